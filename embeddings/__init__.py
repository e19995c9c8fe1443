"""Cross-lingual retrieval over Kazakh and Russian news: everything that is not HTTP."""
