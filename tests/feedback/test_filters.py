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
    _offensive,
    fingerprint,
    normalize,
    screen,
)
from service.feedback.lexicon import Lexicon


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


# One listed insult ("đéo") in every disguise a reader cannot see through: each one reads
# as the plain word on screen, and each one must be held.
DISGUISED = [
    "đéo",
    "đ\u200béo",  # zero-width space
    "đé\u200co",  # zero-width non-joiner
    "đ\u200déo",  # zero-width joiner
    "đ\u00adéo",  # soft hyphen
    "đé\u2060o",  # word joiner
    "\ufeffđ\ufeffé\ufeffo",  # BOM between every letter
    "đ\ufe0féo",  # variation selector
    "đ\U000e0020é\U000e007fo",  # tag characters
    "đ\u034féo",  # combining grapheme joiner
    "đ\u3164éo",  # Hangul filler
    "đ\u180eéo",  # Mongolian vowel separator
    "đ\u0435\u0301o",  # Cyrillic е with a combining acute
    "đé\u043e",  # Cyrillic о
    "đé\u03bf",  # Greek omicron
    "đé\u0585",  # Armenian oh
    "Đ\u0415\u0301\u041e",  # capitals: Cyrillic Е and О
    "đ\uff45\u0301\uff4f",  # fullwidth e and o
    "ĐÉ\uff2f",  # fullwidth capital O
    "d\u0335éo",  # d with a short stroke overlay, TR39's reading of đ
    "\u00d0éo",  # eth for Đ
    unicodedata.normalize("NFD", "đéo"),  # decomposed
    "đe\u0301o",  # only the é decomposed
    "đ\u0336é\u0336o\u0336",  # struck through
    "đé\u0332o\u0332",  # underlined
    "đé\U0001d428",  # mathematical bold o
    "đé\u24de",  # circled o
    "đé\u1d0f",  # small capital o
    "đ é o",  # spaced letters
    "đ.é.o",  # dotted letters
    "đ♥é♥o",  # symbols between the letters
    "đ😀é😀o",  # emoji between the letters
    "đ\u200b é\u200b o",  # spaced, with zero-width spaces too
    "đ\u200béééo",  # stretched, with a zero-width space
    "Đ\u200b\u0415\u0301\uff4f",  # mixed: zero-width, Cyrillic, fullwidth
]


@pytest.mark.parametrize("disguise", DISGUISED)
def test_a_disguised_term_holds(disguise: str) -> None:
    hold = screen(f"Tôi {disguise} quan tâm")
    assert hold is not None and hold.reason == "offensive", ascii(disguise)
    assert hold.detail.startswith('"') and "~ đéo" in hold.detail
    # A moderator is told when the text was dressed up in characters that hide it; plain,
    # decomposed or visibly spelled-out text shows as it is.
    plain = ("đéo", "đe\u0301o", unicodedata.normalize("NFD", "đéo"), "đ é o", "đ.é.o", "đ♥é♥o")
    plain += ("đ😀é😀o",)
    assert hold.detail.endswith("(disguised)") != (disguise in plain), hold.detail


@pytest.mark.parametrize(
    "disguise",
    [
        "f\u200buck",
        "\uff46\uff55\uff43\uff4b",  # fullwidth
        "\U0001d41f\U0001d42e\U0001d41c\U0001d424",  # mathematical bold
        "fu\u0441k",  # Cyrillic с
        "f\u057dck",  # Armenian seh for u
        "f\u0336u\u0336c\u0336k\u0336",  # struck through
        "f\u00fcck",  # a diacritic Vietnamese does not write
    ],
)
def test_a_disguised_english_term_holds(disguise: str) -> None:
    assert _reason(f"this is {disguise}ing stupid") == "offensive", ascii(disguise)


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
        # Single letters between punctuation that join into no listed term.
        "Đ/c Hùng nói đúng",
        "v/v tổ chức họp tổ dân phố",
        "Phương án A, B, C đều được",
        "Chọn a, b hoặc c",
        "Lớp 10A, 10B",
    ],
)
def test_ordinary_words_pass(text: str) -> None:
    assert screen(text) is None


@pytest.mark.parametrize(
    "text",
    [
        # Everyday Vietnamese, read through the skeleton: diacritics, đ, ơ, ư and tones kept.
        "Tôi ủng hộ đề xuất này ❤️",  # an emoji with its variation selector
        "Gia đình tôi 👨\u200d👩\u200d👧 sống ở Đống Đa",  # joined by zero-width joiners
        "Đường Điện Biên Phủ đông xe quá",
        "Ước gì có thêm công viên ở Đà Nẵng",
        "Người dân cần được hỏi ý kiến trước",
        "Thủ tục hành chính còn rườm rà",
        "Cầu Long Biên cần được bảo tồn",
        "Đêm qua mưa to, đường ngập",
        "Tôi đi ngủ sớm để mai đi làm",
        "Ông ấy nói ngược với hôm qua",
        "Ứng dụng dễ dùng, cảm ơn",
        "Chị Nguyễn Thị Đào ở Đắk Lắk",
        "Thừa Thiên Huế mùa này đẹp",
        "Mọi người đeo khẩu trang đi",
        "Con đường ướt sũng sau cơn mưa",
        "công\u00adviên Thống Nhất",  # a soft hyphen in an ordinary word
        "\uff58\uff49\uff4e ch\u00e0o",  # fullwidth "xin chào"
        "Diện tích 50 m² là đủ",
        "Trận đấu 2–1 rất hay",
        # Other scripts are folded only where they pass for Latin: no term appears.
        "Привет, как дела?",
        "Καλημέρα σας",
        "你好，我同意",
    ],
)
def test_ordinary_sentences_pass_after_normalisation(text: str) -> None:
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
    before = Lexicon.build(["chó má", "ngu"], [])
    after = Lexicon.build(["chó má", "ngu"], ["gửi cho má", "ngủ"])
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
        Lexicon.build(["son of a*"], [])
    with pytest.raises(ValueError, match="no words"):
        Lexicon.build(["?!"], [])
    with pytest.raises(ValueError, match="teencode"):
        Lexicon.build([], [], ["ko không"])
    with pytest.raises(ValueError, match="teencode"):
        Lexicon.build([], [], ["ko dc = không được"])  # one word on the left
    lexicon = Lexicon.build(["  # only a comment", "", "vcl  # inline comment"], [])
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
        "xem example\u200b.com nhé",  # a zero-width space in the name
        "vào bit\u00ad.ly/abc",  # a soft hyphen
        "https\u2060://tin.vn/x",
        "h t t p s://example.org",  # the scheme spelled out
        "h t t p s : / / e x a m p l e . c o m",
        "\uff57\uff57\uff57\uff0e\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",
        "\u0435\u0445\u0430mpl\u0435.com",  # Cyrillic е, х, а
        "example[.]com",
        "example (dot) com",
        "example\u3002com",  # an ideographic full stop
        "w w w . khuyenmai . vn",
        "vào example . com xem",
        "giare .vn",
    ],
)
def test_disguised_links_hold(text: str) -> None:
    assert _reason(text) == "link", ascii(text)


@pytest.mark.parametrize(
    "text",
    [
        "Tăng 2.5 lần trong 3.5 năm",
        "v.v. và TP.HCM",
        "Ông A.Nguyễn nói đúng",
        "Đà Nẵng.Com thì sao",  # no ASCII name before the dot
        "I agree.To be fair",
        "Tôi đồng ý . Còn anh?",
        "It is done . Co-workers agree",
        "Q 1 và Q 3 . Có ai ở đó?",
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
        "gọi \uff10\uff19\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",  # fullwidth
        "gọi \uff10\uff19\uff11\uff12\uff0e\uff13\uff14\uff15\uff0e\uff16\uff17\uff18",
        "\uff0b\uff18\uff14 \uff19\uff11\uff12 \uff13\uff14\uff15 \uff16\uff17\uff18",
        "sđt 0912\u200b345\u200b678",  # zero-width spaces between the groups
        "sđt 0\u200b9\u200b1\u200b2\u200b3\u200b4\u200b5\u200b6\u200b7\u200b8",
        "gọi 0 9 1 2 3 4 5 6 7 8",  # a space between every digit
        "gọi 0.9.1.2.3.4.5.6.7.8",  # a dot between every digit
        "gọi 0-9-1-2 3-4-5 6-7-8",
        "zalo0912345678",  # glued to a word
        "sđt 0912_345_678",
        "\u0660\u0669\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",  # Arabic-Indic digits
        "gọi 0912\u00ad345\u00ad678",  # soft hyphens
        "tổng đài 1900 1234",
    ],
)
def test_disguised_phone_numbers_hold(text: str) -> None:
    assert _reason(text) == "phone", ascii(text)


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
        "từ năm 1800 đến 1900",
        "Giá 1900 đồng",
        "Quận 10, phường 12, tổ 3",
        "Mã bưu chính 100000",
        "\uff12\uff10\uff12\uff15",  # a fullwidth year
        # Figures libphonenumber would read as a number dialled without its 0.
        "Mỗi dòng một mạng CIDR như 203.0.113.0/24.",
        "p50 / p99 / max: 348 / 409 / 432 ms",
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
