"""Word2Vec (CBOW, negative sampling) end to end: corpus, vocabulary, models, training, analogies, PCA.

Data side (``corpus``, ``vocab``, ``analogy``, ``export``, ``places``, ``pca``) is documented in
``docs/word2vec-data.md``; models and training in ``docs/word2vec.md``.
"""
