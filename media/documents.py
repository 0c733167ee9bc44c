"""Document uploads: PDF (parsed with pypdf) and PowerPoint PPTX (checked as an Office package).

Documents are stored as uploaded (they are served as downloads, never rendered by the API), so
validation has to be thorough:

- PDF: must start with `%PDF-` and end with `%%EOF` (a truncated file does not), parse, not be
  encrypted, and have at least one page. The page count goes into the metadata.
- PPTX: a zip archive within the zip limits (entry count, total uncompressed size, per-entry
  compression ratio: zip bombs), whose `[Content_Types].xml` names a PowerPoint presentation
  part that `_rels/.rels` points to as the office document, without macros, and whose every
  member decompresses with a correct CRC (reads are bounded by the declared sizes, which were
  checked first). The slide count comes from the presentation part's slide list.
"""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from xml.etree import ElementTree

from django.conf import settings

from .validation import CorruptFile, EncryptedDocument, Sniffed, UnsafeArchive, UnsupportedFileType

logger = logging.getLogger(__name__)

PDF_EOF_WINDOW = 1024
# Largest XML part read into memory for inspection (content types, relationships, slide list).
MAX_XML_PART_BYTES = 8 * 1024 * 1024
# Entries smaller than this may compress as well as they like (XML is very repetitive).
RATIO_CHECK_MIN_BYTES = 1024 * 1024
READ_CHUNK = 1024 * 1024

_PRESENTATION_TYPES = {
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml",
    "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml",
}
_MACRO_TYPES = {
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml",
    "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml",
    "application/vnd.ms-powerpoint.template.macroEnabled.main+xml",
}
_OTHER_OFFICE = {
    "wordprocessingml": "a Word document",
    "spreadsheetml": "an Excel workbook",
    "ms-word": "a Word document",
    "ms-excel": "an Excel workbook",
}
_OFFICE_DOCUMENT_RELS = {
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument",
    "http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument",
}
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def inspect_document(file, sniffed: Sniffed) -> dict:
    """Validate a document upload and return its metadata."""
    if sniffed.format == "pdf":
        return inspect_pdf(file)
    return inspect_pptx(file)


# --- PDF ---------------------------------------------------------------------------------------


def inspect_pdf(file) -> dict:
    from pypdf import PdfReader

    file.seek(0, 2)
    size = file.tell()
    file.seek(max(0, size - PDF_EOF_WINDOW))
    tail = file.read(PDF_EOF_WINDOW)
    file.seek(0)
    if b"%%EOF" not in tail:
        raise CorruptFile("The PDF is truncated: it has no end-of-file marker.")
    try:
        reader = PdfReader(file, strict=False)
        if reader.is_encrypted:
            raise EncryptedDocument()
        page_count = len(reader.pages)
    except EncryptedDocument:
        raise
    except Exception as exc:
        # pypdf raises many exception types on malformed input (PdfReadError, ValueError,
        # KeyError, RecursionError on reference loops ...): all mean the PDF is unusable.
        logger.info("pdf parse failed: %s: %s", type(exc).__name__, exc)
        raise CorruptFile("The PDF cannot be parsed.") from exc
    finally:
        file.seek(0)
    if page_count < 1:
        raise CorruptFile("The PDF has no pages.")
    return {"page_count": page_count}


# --- PPTX --------------------------------------------------------------------------------------


def _read_xml(archive: zipfile.ZipFile, name: str) -> ElementTree.Element:
    """Parse one XML part, refusing DTDs (no entity expansion, no external entities)."""
    with archive.open(name) as member:
        data = member.read(MAX_XML_PART_BYTES + 1)
    if len(data) > MAX_XML_PART_BYTES:
        raise UnsafeArchive(f"The package part {name} is unreasonably large.")
    if _DTD.search(data):
        raise UnsupportedFileType("The package contains XML with a DTD, which Office never writes.")
    try:
        return ElementTree.fromstring(data)  # noqa: S314 - DTDs refused above
    except ElementTree.ParseError as exc:
        raise CorruptFile(f"The package part {name} is not well-formed XML.") from exc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _check_limits(infos: list[zipfile.ZipInfo]) -> None:
    max_entries = settings.MEDIA_ZIP_MAX_ENTRIES
    max_total = settings.MEDIA_ZIP_MAX_UNCOMPRESSED_BYTES
    max_ratio = settings.MEDIA_ZIP_MAX_RATIO
    if len(infos) > max_entries:
        raise UnsafeArchive(
            f"The package has {len(infos):,} entries; at most {max_entries:,} are accepted."
        )
    total = sum(info.file_size for info in infos)
    if total > max_total:
        raise UnsafeArchive(
            f"The package would expand to {total:,} bytes; at most {max_total:,} are accepted."
        )
    for info in infos:
        if info.file_size >= RATIO_CHECK_MIN_BYTES and info.file_size > max_ratio * max(
            info.compress_size, 1
        ):
            ratio = info.file_size // max(info.compress_size, 1)
            raise UnsafeArchive(
                f"The package entry {info.filename} expands {ratio:,} times; at most "
                f"{max_ratio} is accepted (zip bomb)."
            )
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise CorruptFile("The package lists the same part twice.")
    if any(info.flag_bits & 0x1 for info in infos):
        raise UnsupportedFileType("The package is encrypted.")
    if any(info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) for info in infos):
        # Office writes stored and deflated members only; other codecs are not worth the risk.
        raise UnsupportedFileType("The package uses a compression method Office never writes.")


def _main_part(content_types: ElementTree.Element) -> str:
    overrides = {
        element.get("PartName", ""): element.get("ContentType", "")
        for element in content_types
        if _local(element.tag) == "Override"
    }
    for content_type in overrides.values():
        if content_type in _MACRO_TYPES:
            raise UnsupportedFileType(
                "Macro-enabled presentations are refused; save it as a plain PPTX."
            )
    for part, content_type in overrides.items():
        if content_type in _PRESENTATION_TYPES:
            return part.lstrip("/")
    for marker, what in _OTHER_OFFICE.items():
        if any(marker in content_type for content_type in overrides.values()):
            raise UnsupportedFileType(f"This is {what}; only PowerPoint (PPTX) is accepted.")
    raise UnsupportedFileType("This zip archive is not a PowerPoint presentation.")


def inspect_pptx(file) -> dict:
    file.seek(0)
    try:
        with zipfile.ZipFile(file) as archive:
            infos = archive.infolist()
            _check_limits(infos)
            names = {info.filename for info in infos}
            if "[Content_Types].xml" not in names:
                raise UnsupportedFileType("This zip archive is not an Office document.")
            if any(name.lower().endswith("vbaproject.bin") for name in names):
                raise UnsupportedFileType(
                    "Macro-enabled presentations are refused; save it as a plain PPTX."
                )
            main = _main_part(_read_xml(archive, "[Content_Types].xml"))
            if "_rels/.rels" not in names or main not in names:
                raise CorruptFile("The presentation package is incomplete.")
            targets = {
                (element.get("Target") or "").lstrip("/")
                for element in _read_xml(archive, "_rels/.rels")
                if element.get("Type") in _OFFICE_DOCUMENT_RELS
            }
            if main not in targets:
                raise CorruptFile("The package does not point to its presentation part.")
            presentation = _read_xml(archive, main)
            slide_count = sum(
                1 for element in presentation.iter() if _local(element.tag) == "sldId"
            )
            _verify_members(archive, infos)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error) as exc:
        raise CorruptFile("The presentation is not a readable zip package.") from exc
    except (NotImplementedError, RuntimeError) as exc:
        # Unsupported compression methods, encrypted members.
        raise UnsupportedFileType(f"The package uses an unsupported zip feature: {exc}") from exc
    finally:
        file.seek(0)
    return {"slide_count": slide_count}


def _verify_members(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    """Decompress every member in chunks and let zipfile check each CRC.

    zipfile never returns more than an entry's declared size, and the declared sizes passed
    `_check_limits`, so this reads at most MEDIA_ZIP_MAX_UNCOMPRESSED_BYTES in total.
    """
    for info in infos:
        if info.is_dir():
            continue
        with archive.open(info) as member:
            while member.read(READ_CHUNK):
                pass
