"""bot.nlu.finetune: finetuning starts from exactly the weights Rasa's own finetune loading gives, with fewer traces;
bot.nlu.faq_selector: the FAQ selector, whose labels a finetuning may add to, is trained afresh."""

from __future__ import annotations

from pathlib import Path

from bot.nlu.faq_selector import FaqSelector
from tests.nlu.subprocess_json import run_json

# Loads the DIET component of a packaged model the way `rasa train --finetune` does (its node of the graph, with
# is_finetuning), Rasa's way or ours, and prints a digest of every trainable weight. One process per load.
LOAD = """
import hashlib, json, sys, tempfile
from pathlib import Path
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from bot.evaluate import _quiet_rasa
import bot.nlu.finetune as finetune
from tests.nlu.subprocess_json import emit

_quiet_rasa()
if sys.argv[2] == "rasa":  # skip our loading: the class's next load in line is Rasa's RasaModel.load
    finetune.LeanFinetune.load = classmethod(lambda cls, *a, **k: super(finetune.LeanFinetune, cls).load(*a, **k))
storage, metadata = LocalModelStorage.from_model_archive(Path(tempfile.mkdtemp()), Path(sys.argv[1]))
schema = metadata.predict_schema
node = next(name for name, spec in schema.nodes.items() if spec.uses.__name__ == "DIETClassifier")
spec = schema.nodes[node]
config = {**spec.uses.get_default_config(), **spec.config}
component = spec.uses.load(config, storage, spec.resource, ExecutionContext(schema, node_name=node, is_finetuning=True))
weights = {w.name: hashlib.sha256(w.numpy().tobytes()).hexdigest() for w in component.model.trainable_weights}
emit({"class": type(component.model).__name__, "weights": weights})
"""


def _load(model: Path, way: str) -> dict[str, object]:
    return dict(run_json(LOAD, str(model), way))


def test_finetuning_starts_from_the_weights_rasa_would_load(model_path: Path) -> None:
    rasa_way, ours = _load(model_path, "rasa"), _load(model_path, "lean")
    assert rasa_way["class"] == ours["class"] == "FastTraceDIET"
    assert isinstance(ours["weights"], dict) and len(ours["weights"]) > 20
    assert ours["weights"] == rasa_way["weights"]  # every trainable weight, bit for bit


def test_the_faq_selector_is_trained_afresh_when_the_model_is_finetuned(tmp_path: Path) -> None:
    """Its labels are the FAQs, which finetuning may add to: a selector loaded for finetuning starts from scratch
    (all its epochs), while a selector loaded to answer is the trained one."""
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    storage = LocalModelStorage(tmp_path)
    config = {**FaqSelector.get_default_config(), "retrieval_intent": "faq", "epochs": 15, "finetune_epochs": 60}
    config["finetuning_epoch_fraction"] = 0.25  # as Rasa passes it when finetuning
    context = ExecutionContext(GraphSchema({}), node_name="selector", is_finetuning=True)
    selector = FaqSelector.load(config, storage, Resource("selector"), context)
    assert isinstance(selector, FaqSelector) and selector.model is None and not selector.finetune_mode
    assert selector.component_config["epochs"] == 60
    answering = ExecutionContext(GraphSchema({}), node_name="selector", is_finetuning=False)
    assert FaqSelector.load(config, storage, Resource("missing"), answering).component_config["epochs"] == 15
