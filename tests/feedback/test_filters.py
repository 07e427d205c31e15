"""Comment filters: each reason with real comments, the false positives that must pass,
duplicates, the comparable form, and the packaged word lists."""

from __future__ import annotations

import hashlib
import unicodedata
from importlib import resources

import pytest

from service.feedback.filters import (
    NEAR_DUPLICATE_MIN_CHARS,
    REASONS,
    Hold,
    _Lexicon,
    _offensive,
    fingerprint,
    normalize,
    screen,
)


def _reason(text: str, recent: tuple[str, ...] = ()) -> str | None:
    hold = screen(text, recent)
    if hold is not None:
        assert hold.reason in REASONS
        assert hold.detail
    return None if hold is None else hold.reason


def _data(name: str) -> list[str]:
    text = resources.files("service.feedback").joinpath("data", name).read_text("utf-8")
    return [e for line in text.splitlines() if (e := line.split("#", 1)[0].strip())]


# ---------------------------------------------------------------- offensive


@pytest.mark.parametrize(
    "text",
    [
        "Đ.m bọn quan chức",
        "đm bọn quan chức",
        "d m bọn quan chức",
        "D.M.M thật sự",
        "vcl thật",
        "VKL luôn",
        "clgt vậy",
        "cc gì mà lâu thế",
        "Dkm làm ăn kiểu gì",
        "Đéo ai chịu nổi",
        "Chính sách deo gì mà kỳ",  # đéo typed without diacritics in an accented comment
        "đồ ngu",
        "Thằng ngu nào nghĩ ra",
        "đồ ngguuu",  # stretched letters
        "Quyết định này ngu quá",
        "ngu như bò",
        "Đồ chó má",
        "Óc chó à",
        "lũ súc vật",
        "Địt mẹ",
        "dit me bon no",  # all without diacritics
        "mua 2 lon bia vãi lon",  # a term of two words, the second typed without diacritics
    ],
)
def test_vietnamese_offensive_terms_hold(text: str) -> None:
    assert _reason(text) == "offensive"


@pytest.mark.parametrize(
    "text",
    [
        "This is fucking stupid",
        "f u c k this",
        "F.U.C.K",
        "fuuuuck",
        "what bullshit",
        "kiss my ass",
        "assssss",
        "you piece of shit",
        "WTF is this",
    ],
)
def test_english_offensive_terms_hold(text: str) -> None:
    assert _reason(text) == "offensive"


def test_the_detail_names_what_was_written_and_the_term() -> None:
    assert screen("Đ.m bọn quan chức") == Hold("offensive", '"Đ.m" ~ đm')
    assert screen("đồ ngguuu") == Hold("offensive", '"đồ ngguuu" ~ đồ ngu')
    assert screen("so fucking bad") == Hold("offensive", '"fucking" ~ fuck*')


@pytest.mark.parametrize(
    "text",
    [
        # Places and ordinary words that strip to, or contain, a listed term.
        "Đầm Sen đông quá",
        "Đầm Vạc ở Vĩnh Yên",
        "dam sen",
        "Địa điểm tổ chức ở đâu?",
        "Cục Cảnh sát giao thông",
        "cuc canh sat giao thong",
        "Phố Hàng Bồ nên đóng cửa cho ô tô cuối tuần",
        "Con chó nhà tôi rất ngoan",
        "Đà Nẵng đẹp lắm",
        "Đội ngũ cán bộ rất nhiệt tình",
        "doi ngu can bo rat nhiet tinh",  # typed without diacritics: ngũ, not ngu
        "Tôi đi ngủ sớm",
        "Mọi người nên đeo khẩu trang",
        "Các bạn ơi",
        "cac ban oi",
        "Mua 2 lon bia",
        "Buổi họp sáng nay",
        "buoi hop sang nay",
        "Tôi di làm bằng xe buýt",  # a typo for đi, not đĩ
        "Đi du lịch Phố cổ",
        "Ngõ cụt",
        "Quà cho trẻ em: đồ cho trẻ em",
        "Hạt óc chó rất bổ",
        "Chính sách ngu dân thời phong kiến",
        "Xe máy dưới 50 cc",
        "Lò nung gạch",
        # English words that contain a listed term.
        "Scunthorpe United",
        "a cocktail party",
        "the assessment is fair",
        "shiitake mushrooms",
        "as soon as possible",
        "Dickens",
    ],
)
def test_ordinary_words_pass(text: str) -> None:
    assert screen(text) is None


def test_each_listed_term_holds_and_each_allowlisted_entry_passes() -> None:
    """Every line of the packaged lists does what its file says (in an accented sentence,
    where "ngu" is read as written)."""
    terms = _data("offensive-vi.txt") + _data("offensive-en.txt")
    assert len(terms) > 50
    for term in terms:
        hold = screen(f"Thật là {term.rstrip('*')} quá")
        assert hold is not None and hold.reason == "offensive", term
    for entry in _data("allowlist.txt"):
        assert screen(entry) is None, entry
        assert screen(f"Thật là {entry} quá") is None, entry


def test_every_data_file_names_its_source() -> None:
    for name in ("offensive-vi.txt", "offensive-en.txt", "allowlist.txt", "teencode.txt"):
        header = resources.files("service.feedback").joinpath("data", name).read_text("utf-8")
        assert "Source:" in header.split("\n\n", 1)[0], name


def test_an_allowlist_line_fixes_a_false_positive() -> None:
    """What README tells a moderator to do: add the ordinary phrase to the allowlist."""
    before = _Lexicon.build(["chó má", "ngu"], [])
    after = _Lexicon.build(["chó má", "ngu"], ["gửi cho má", "ngủ"])
    assert _offensive("Tôi gửi cho má ít tiền", before) is not None
    assert _offensive("Tôi gửi cho má ít tiền", after) is None
    # An allowlisted phrase protects only what lies inside it.
    assert _offensive("Tôi gửi cho má, đồ chó má", after) is not None
    # Without diacritics anywhere, "ngu" may be "ngủ": the allowlisted reading wins.
    assert _offensive("toi di ngu", before) is not None
    assert _offensive("toi di ngu", after) is None
    assert _offensive("Tôi thấy ngu", after) is not None


def test_bad_list_lines_are_refused() -> None:
    with pytest.raises(ValueError, match="one word"):
        _Lexicon.build(["son of a*"], [])
    with pytest.raises(ValueError, match="no words"):
        _Lexicon.build(["?!"], [])
    with pytest.raises(ValueError, match="teencode"):
        _Lexicon.build([], [], ["ko không"])
    with pytest.raises(ValueError, match="teencode"):
        _Lexicon.build([], [], ["ko dc = không được"])  # one word on the left
    lexicon = _Lexicon.build(["  # only a comment", "", "vcl  # inline comment"], [])
    assert _offensive("vcl", lexicon) is not None


# ---------------------------------------------------------------- links and phones


@pytest.mark.parametrize(
    "text",
    [
        "xem tại bit.ly/abc",
        "Chi tiết: https://example.org/x?y=1",
        "http://192.168.0.1/admin",
        "vào www.khuyenmai.vn nhé",
        "Mua hàng ở giare.com.vn",
        "Đăng ký tại abc.com",
        "nhắn t.me/nhomkin",
        "email tôi: ai.do@gmail.com",
        "web abc chấm com",
        "Xem TẠI VIDEO.XYZ",
    ],
)
def test_links_hold(text: str) -> None:
    assert _reason(text) == "link"


@pytest.mark.parametrize(
    "text",
    [
        "Tăng 2.5 lần trong 3.5 năm",
        "v.v. và TP.HCM",
        "Ông A.Nguyễn nói đúng",
        "Đà Nẵng.Com thì sao",  # no ASCII name before the dot
        "I agree.To be fair",
    ],
)
def test_dotted_text_that_is_no_link_passes(text: str) -> None:
    assert screen(text) is None


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("Liên hệ 0912 345 678", "0912 345 678"),
        ("gọi 0912.345.678 nhé", "0912.345.678"),
        ("sđt 0912-345-678", "0912-345-678"),
        ("zalo 0387654321", "0387654321"),
        ("+84 912 345 678", "+84 912 345 678"),
        ("(+84) 912 345 678", "+84) 912 345 678"),
        ("(024) 3825 1234", "024) 3825 1234"),
        ("0084 912 345 678", "0084 912 345 678"),
        ("Tổng đài 024 3825 1234", "024 3825 1234"),
        ("0912345678 9 lần", "0912345678"),
    ],
)
def test_vietnamese_phone_numbers_hold(text: str, number: str) -> None:
    hold = screen(text)
    assert hold is not None and hold.reason == "phone"
    assert number in hold.detail


@pytest.mark.parametrize(
    "text",
    [
        "Năm 2025 sẽ khác",
        "5 năm nữa",
        "Giá 1.000.000 đồng",
        "Dân số 100.000.000 người",
        "Ngày 02/09/1945",
        "CCCD 001203004567",  # 12 digits: no phone
        "0912 345",
        "Mã số 0123456789",  # 01x is no longer a mobile prefix
    ],
)
def test_numbers_that_are_no_phone_pass(text: str) -> None:
    assert screen(text) is None


# ---------------------------------------------------------------- repeated characters


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("hayyyyyyyyy quá", "'y' 9 times"),
        ("Tuyệt vời!!!!!!!", "'!' 7 times"),
        ("AAAAAAaaa", "'a' 9 times"),
        ("Đẹp quááááááá", "'á' 7 times"),
    ],
)
def test_repeated_characters_hold(text: str, detail: str) -> None:
    assert screen(text) == Hold("repeated", detail)


@pytest.mark.parametrize(
    "text",
    ["hayyyyy quá", "Thôi thì.......", "Giá 1000000 đồng", "Chờ…………", "xoong nồi"],
)
def test_short_runs_digits_and_dots_pass(text: str) -> None:
    assert screen(text) is None


# ---------------------------------------------------------------- duplicates

PROPOSAL = "Tôi đồng ý đóng phố Hàng Bồ cho ô tô vào cuối tuần"


def test_an_exact_duplicate_holds_however_it_is_spelled() -> None:
    recent = ("Ý kiến khác", "tôi đồng ý ĐÓNG phố hàng bồ cho ô tô vào cuối tuần!!!")
    hold = screen(PROPOSAL, recent)
    assert hold is not None and hold.reason == "duplicate"
    assert hold.detail.startswith('same as "tôi đồng ý ĐÓNG')
    assert _reason("Không được", ("ko dc",)) == "duplicate"  # teencode expanded
    assert _reason("Đồng ý", ("Đồng ý",)) == "duplicate"  # short ones too


def test_a_near_duplicate_holds() -> None:
    assert _reason(PROPOSAL + " nhé", (PROPOSAL,)) == "near_duplicate"
    # The same words in another order.
    reordered = "vào cuối tuần cho ô tô tôi đồng ý đóng phố Hàng Bồ"
    assert _reason(reordered, (PROPOSAL,)) == "near_duplicate"
    # A few letters changed.
    assert _reason("Toi dong y dong pho Hang Bo cho oto vao cuoi tuan", (PROPOSAL,)) == (
        "near_duplicate"
    )
    hold = screen(PROPOSAL + " nhé", ("khác hẳn", PROPOSAL))
    assert hold is not None and hold.detail.endswith(
        'like "Tôi đồng ý đóng phố Hàng Bồ cho ô tô và…"'
    )


def test_different_or_short_comments_are_no_near_duplicates() -> None:
    # A comment that quotes another and goes on.
    assert screen(PROPOSAL + ", và cả các ngày lễ tết trong năm", (PROPOSAL,)) is None
    # An opposite opinion in almost the same words.
    assert screen("Tôi đồng ý đóng phố Hàng Bồ", ("Tôi không đồng ý đóng phố Hàng Bồ",)) is None
    assert screen(PROPOSAL, ("Tôi không đồng ý đóng phố Hàng Bồ, buôn bán sẽ khó khăn",)) is None
    assert screen("Đồng ý với đề xuất", ("Đồng ý với đề xuất này",)) is None  # under the length
    assert len(normalize("Đồng ý với đề xuất")) < NEAR_DUPLICATE_MIN_CHARS
    assert screen(PROPOSAL, ()) is None
    assert screen(PROPOSAL, ("ngắn",)) is None


def test_comments_without_words_duplicate_only_themselves() -> None:
    assert screen("👍", ("😡",)) is None
    assert _reason("👍", ("👍",)) == "duplicate"
    assert fingerprint("👍") != fingerprint("😡")


# ---------------------------------------------------------------- the comparable form


def test_normalize_gives_one_form_for_one_text() -> None:
    text = "Đường Nguyễn Trãi ĐẸP quá!!! Không được đỗ xe"
    assert normalize(unicodedata.normalize("NFD", text)) == normalize(text)
    assert normalize(text) == "duong nguyen trai dep qua khong duoc do xe"
    assert normalize("  Đ.m   bọn...  ") == "dm bon"
    assert normalize("hayyyyy quá, xoong nồi") == "hay qua xoong noi"
    assert normalize("ko dc vs mik") == "khong duoc voi minh"
    assert normalize("!!! 👍") == ""


def test_fingerprint_is_short_stable_and_follows_normalize() -> None:
    assert fingerprint("Không được") == fingerprint("ko dc!!")
    assert fingerprint("Không được") == fingerprint(unicodedata.normalize("NFD", "Không được"))
    assert fingerprint("Không được") != fingerprint("Được")
    value = fingerprint(PROPOSAL)
    assert len(value) == 16 and int(value, 16) >= 0
    # Stable across processes and releases: stored in the database.
    assert fingerprint("Đồng ý") == "c432470aef4e021c"
    assert fingerprint("Đồng ý") == hashlib.blake2b(b"dong y", digest_size=8).hexdigest()


def test_screen_takes_nfd_like_nfc() -> None:
    for text in ("Đồ ngu", "Đầm Vạc", "Liên hệ 0912 345 678"):
        assert screen(unicodedata.normalize("NFD", text)) == screen(text)
