from velocimex import rtl_params


def test_committed_rtl_header_matches_the_book_contract():
    assert rtl_params.HEADER_PATH.read_text() == rtl_params.render(), (
        "hw/rtl/vx_params.vh is stale: run `python -m velocimex.rtl_params`"
    )
