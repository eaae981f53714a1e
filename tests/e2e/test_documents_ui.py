"""Documents in Chromium: a PDF chosen with the file picker is uploaded and ingested,
its memo's citation shows the page's image with the cited box outlined inside it, and
a search opens the run's chunk list at the matching chunk."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

import corpus_pdf
from e2e.conftest import Served, expect_full_page
from e2e.test_contrast import audit

RUN_TIMEOUT = 120_000


def upload_pdf(page: Page, served: Served, folder: Path) -> str:
    """Choose a PDF in the conversation plane; the run it starts, once it is done."""
    pdf = corpus_pdf.one_column(folder)
    page.goto(served.url)
    expect_full_page(page)
    page.locator("#upload-file").set_input_files(pdf.path)
    status = page.locator("#run-status")
    expect(status).to_have_attribute("data-state", "done", timeout=RUN_TIMEOUT)
    run_id = page.locator("#exec").get_attribute("data-run-id")
    assert run_id and page.url.endswith(f"/runs/{run_id}")
    expect(page.locator(f"#run-item-{run_id}")).to_have_count(1)
    return run_id


def test_an_uploaded_pdf_memo_citation_shows_its_box_on_the_page(
    page: Page, served_any: Served, tmp_path: Path
) -> None:
    run_id = upload_pdf(page, served_any, tmp_path)
    assert served_any.run(run_id)["status"] == "done"

    page.locator("#artifact-link-memo").click()
    citation = page.locator("a.citation[data-page]").first
    expect(citation).to_be_visible()
    citation.click()

    image = page.locator("#page-image")
    expect(page.locator("#page-view")).to_be_visible()
    expect(image).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.getElementById('page-image');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    box, frame = page.locator("#cite-box").bounding_box(), image.bounding_box()
    assert box is not None and frame is not None
    assert box["width"] > 2 and box["height"] > 2, box
    tolerance = 1.5
    assert frame["x"] - tolerance <= box["x"], (box, frame)
    assert frame["y"] - tolerance <= box["y"], (box, frame)
    assert box["x"] + box["width"] <= frame["x"] + frame["width"] + tolerance, (box, frame)
    assert box["y"] + box["height"] <= frame["y"] + frame["height"] + tolerance, (box, frame)
    expect(page.locator("#page-caption")).to_contain_text("Page ")
    assert not audit(page)["failures"], "the memo and the page view are readable (WCAG AA)"
    served_any.shot(page, "pdf-citation-1280")


def test_a_search_result_opens_the_runs_chunk_at_the_match(
    page: Page, served_any: Served, tmp_path: Path
) -> None:
    run_id = upload_pdf(page, served_any, tmp_path)

    page.get_by_label("Search documents").fill("crane")
    page.locator("#search-submit").click()

    result = page.locator(f"li.search-hit[data-run-id='{run_id}'] a.search-link").first
    expect(result.locator("mark")).to_have_text("crane", ignore_case=True)
    assert not audit(page)["failures"], "the search results are readable (WCAG AA)"
    served_any.shot(page, "search-results-1280")
    result.click()

    expect_full_page(page)
    expect(page.locator("#exec")).to_have_attribute("data-run-id", run_id)
    focused = page.locator("li.chunk-focused")
    expect(focused).to_have_count(1)
    expect(focused).to_be_in_viewport()
