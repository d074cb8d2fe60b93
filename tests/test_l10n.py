from l10n import LANGUAGES, Translator, language_for, load_catalog, placeholders


def test_every_language_has_the_same_keys_and_placeholders() -> None:
    reference = load_catalog("en")
    for language in LANGUAGES:
        catalog = load_catalog(language)
        assert catalog.keys() == reference.keys(), language
        for key, text in reference.items():
            assert placeholders(catalog[key]) == placeholders(text), (language, key)
            assert catalog[key].strip(), (language, key)


def test_language_for_telegram_codes() -> None:
    assert language_for("de", "en") == "de"
    assert language_for("de-CH", "en") == "de"
    assert language_for("en-GB", "en") == "en"
    assert language_for(None, "en") == "en"


def test_rendering_fills_named_placeholders() -> None:
    assert Translator()("de")("start.welcome", name="Eva").startswith("Willkommen im Shop, Eva!")
