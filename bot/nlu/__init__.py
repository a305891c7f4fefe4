"""Custom Rasa NLU components and the generated jieba dictionary."""
