"""Meta Custom Audiences normalization, each rule against the examples in Meta's own documentation.

Sources: Meta's "Customer information parameters" and Custom Audiences hashing guides (input ->
normalized value), and its Python SDK's `normalize_key` where the guide is silent.
"""

from __future__ import annotations

import pytest

from cdp.activation.config import parse_activation
from cdp.activation.destinations.meta_custom_audiences import MetaCustomAudiences, hashed, normalize


@pytest.mark.parametrize(
    ("key", "raw", "normalized"),
    [
        # EMAIL: trim, lowercase (the SDK also strips trailing dots)
        ("EMAIL", "John_Smith@gmail.com", "john_smith@gmail.com"),
        ("EMAIL", "  John_Smith@Gmail.COM \t", "john_smith@gmail.com"),
        ("EMAIL", "john_smith@gmail.com.", "john_smith@gmail.com"),
        ("EMAIL", "not an address", ""),
        # PHONE: digits only, with the country code, no +, no leading zeros
        ("PHONE", "+1 (616) 954-1212", "16169541212"),
        ("PHONE", "1-650-555-1212", "16505551212"),
        ("PHONE", "0044 7911 123456", "447911123456"),
        ("PHONE", "+33 6 12 34 56 78", "33612345678"),
        # FN / LN: lowercase, no punctuation; UTF-8 letters kept (the SDK wrongly strips them)
        ("FN", "Mary", "mary"),
        ("FN", "Valéry", "valéry"),
        ("FN", "  Jean-Luc ", "jeanluc"),
        ("LN", "Smith", "smith"),
        ("LN", "O'Neil", "oneil"),
        ("LN", "Müller", "müller"),
        # FI: first initial, lowercase
        ("FI", "John", "j"),
        # GEN: m or f
        ("GEN", "Female", "f"),
        ("GEN", "m", "m"),
        ("GEN", "unknown", ""),
        # DOBY / DOBM / DOBD: YYYY, MM, DD zero-padded
        ("DOBY", "1997", "1997"),
        ("DOBM", "2", "02"),
        ("DOBD", "16", "16"),
        ("DOBM", "02", "02"),
        # CT: lowercase, letters only, no spaces
        ("CT", "Menlo Park", "menlopark"),
        ("CT", "St. Louis", "stlouis"),
        # ST: lowercase; US states as their 2-letter code
        ("ST", "California", "ca"),
        ("ST", "CA", "ca"),
        ("ST", "New York", "ny"),
        ("ST", "Île-de-France", "îledefrance"),
        # ZIP: lowercase, no spaces; US: first 5 digits
        ("ZIP", "94035", "94035"),
        ("ZIP", "94035-1234", "94035"),
        ("ZIP", "SW1A 1AA", "sw1a1aa"),
        # COUNTRY: ISO-3166-1 alpha-2, lowercase
        ("COUNTRY", "US", "us"),
        ("COUNTRY", " fr ", "fr"),
        ("COUNTRY", "France", ""),
        # MADID: lowercase, not hashed; EXTERN_ID: as is
        ("MADID", "6032D997-3AB0-4DE0-AA16-8AF0E5B482FB", "6032d997-3ab0-4de0-aa16-8af0e5b482fb"),
        ("EXTERN_ID", "P-000123", "P-000123"),
    ],
)
def test_normalization_rule(key, raw, normalized):
    assert normalize(key, raw) == normalized


# Expected digests computed once, offline, with coreutils (`printf '%s' mary | sha256sum`) from the
# normalized example in the comment: literals, so the test does not hash the way the code does.
@pytest.mark.parametrize(
    ("key", "raw", "digest"),
    [
        (
            "EMAIL",
            " John_Smith@gmail.com ",
            "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
        ),  # john_smith@gmail.com
        (
            "PHONE",
            "+1 (650) 555-1212",
            "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
        ),  # 16505551212
        ("FN", "Mary", "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"),  # mary
        ("FN", "Valéry", "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"),  # valéry, UTF-8
        ("LN", "Smith", "6627835f988e2c5e50533d491163072d3f4f41f5c8b04630150debb3722ca2dd"),  # smith
        ("FI", "John", "189f40034be7a199f1fa9891668ee3ab6049f82d38c68be70f596eab2e1857b7"),  # j
        ("GEN", "Female", "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111"),  # f
        ("DOBY", "1997", "0985b889a1fe4f4e1fb925061ac6fb2247f10875f5fcbe63eec2ab55ed68970e"),  # 1997
        ("DOBM", "2", "a953f09a1b6b6725b81956e9ad0b1eb49e3ad40004c04307ef8af6246a054116"),  # 02
        ("DOBD", "16", "b17ef6d19c7a5b1ee83b907c595526dcb1eb06db8227d650d5dda0a9f4ce8cd9"),  # 16
        ("CT", "Menlo Park", "0007a3d64c01e23d5075203c5977c14e4f7e01a3fc570686fcc50b5e1dd42685"),  # menlopark
        ("ST", "California", "6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126"),  # ca
        ("ZIP", "94035-1234", "1794327a4d443904421f5ca1f3d72d0a62ba2f0770d80755ec2220fc0efb052e"),  # 94035
        ("COUNTRY", "US", "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"),  # us
    ],
)
def test_hashes_are_sha256_lowercase_hex_of_the_normalized_utf8_value(key, raw, digest):
    assert hashed(key, raw) == digest


def test_unhashed_keys_and_empty_values():
    assert hashed("EXTERN_ID", "P-1") == "P-1"
    assert hashed("MADID", "AB-CD") == "ab-cd"
    assert hashed("EMAIL", None) == "" and hashed("PHONE", "") == "" and hashed("COUNTRY", "Narnia") == ""


def meta_activation(**identities):
    return parse_activation(
        {
            "name": "meta_test",
            "audience": "aud_test",
            "destination": "meta_custom_audiences",
            "purpose": "ad_targeting",
            "mode": "incremental",
            "identities": identities,
        }
    )


def test_payload_is_multi_key_with_empty_strings_for_missing_values():
    activation = meta_activation(EXTERN_ID="profile_id", EMAIL="email", PHONE="phone", COUNTRY="country")
    row = {"profile_id": "P1", "email": "A@B.com", "phone": None, "country": "FR"}
    payload, reason = MetaCustomAudiences.payload(activation, "P1", row)
    assert reason is None
    assert payload == {
        "EXTERN_ID": "P1",
        "EMAIL": "fb98d44ad7501a959f3f4f4a3f004fe2d9e581ea6207e218c4b02c08a4d75adf",  # a@b.com
        "PHONE": "",
        "COUNTRY": "67ad8f41a7bb0a18c45f3efd8f6a32bdcd832bcf8f3f2eb44006c03d53076e18",  # fr
    }


@pytest.mark.parametrize(
    ("row", "sent"),
    [
        ({"email": "nobody"}, False),  # no valid email, and an external id or a country alone match no one
        ({"email": "nobody", "country": "FR"}, False),
        ({"phone": "+33 6 12 34 56 78"}, True),
        ({"first_name": "Ann", "last_name": "Lee"}, False),
        ({"first_name": "Ann", "last_name": "Lee", "city": "Lyon"}, True),
    ],
)
def test_a_row_without_a_matchable_identifier_is_withheld(row, sent):
    keys = {"EXTERN_ID": "profile_id", "EMAIL": "email", "PHONE": "phone", "FN": "first_name", "LN": "last_name"}
    activation = meta_activation(**keys, CT="city", COUNTRY="country")
    payload, reason = MetaCustomAudiences.payload(activation, "P1", {"profile_id": "P1", **row})
    assert (payload is not None) == sent
    assert reason == (None if sent else "no identifier Meta can match")


def test_config_checks_meta_keys_and_purpose():
    with pytest.raises(ValueError, match="not Meta schema keys"):
        meta_activation(EMAIL="email", MAIL="email")
    with pytest.raises(ValueError, match="may serve only ad_targeting"):
        parse_activation(
            {
                "name": "meta_mail",
                "audience": "aud_test",
                "destination": "meta_custom_audiences",
                "purpose": "email_marketing",
                "mode": "incremental",
                "identities": {"EMAIL": "email"},
            }
        )
