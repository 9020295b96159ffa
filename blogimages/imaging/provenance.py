"""Provenance: where an image came from, written into the file itself (XMP/IPTC now, C2PA later).

Written at the container level by `embed_provenance()` without re-encoding the pixels: PNG
text chunks plus an XMP packet for PNG, an XMP packet for JPEG (APP1) and WebP (XMP chunk).
`read_provenance()` reads it back.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Iterator, Mapping
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape as _xml_escape

from PIL import Image

from blogimages.exceptions import InvalidImage

from .decode import OUTPUT_FORMATS, format_name, open_image

DIGITAL_SOURCE_TYPE_AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
_DIGITAL_SOURCE_TYPE_BASE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
XMP_NAMESPACE = "https://blogimages.invalid/ns/1.0/"
GENERATOR = "blogimages"

_NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "blogimages": XMP_NAMESPACE,
}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_PNG_XMP_KEY = "XML:com.adobe.xmp"
_JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_XMP_EXT_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
_JPEG_XMP_MAX = 65535 - 2 - len(_JPEG_XMP_HEADER)
# Keys whose values read back as numbers.
_INT_KEYS = {"seed", "steps", "width", "height"}
_FLOAT_KEYS = {"guidance_scale"}
# PNG text keys read as provenance when a file has no XMP of ours (e.g. an A1111 PNG).
_PNG_PROVENANCE_KEYS = {
    "prompt",
    "negative_prompt",
    "revised_prompt",
    "provider",
    "model",
    "seed",
    "steps",
    "sampler",
    "guidance_scale",
    "generator",
    "parameters",
    "digital_source_type",
}
# Keys that mark a file as generated even without a digital source type (e.g. an A1111 PNG).
GENERATION_KEYS = {"prompt", "negative_prompt", "parameters", "model", "seed"}
# Text chunks kept when parameters are stripped: rights, not generation details.
_PNG_KEEP_WHEN_STRIPPED = {"Title", "Author", "Copyright"}
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean_text(value: str) -> str:
    """Text as it can live in XML and PNG chunks: no control characters, no lone surrogates."""
    return _XML_INVALID.sub("", value)


def _normalise_info(info: Mapping[str, Any], *, strip_parameters: bool) -> dict[str, str]:
    """Validate the caller's provenance dict and turn every value into text."""
    if not isinstance(info, Mapping):
        raise ValueError("Provenance info must be a mapping.")
    fields: dict[str, str] = {}
    for key, value in info.items():
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise ValueError(f"Provenance keys must be identifiers (letters, digits, _), not {key!r}.")
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float | str):
            text = str(value)
        elif isinstance(value, list | tuple | dict):
            text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        else:
            raise ValueError(f"Provenance value for {key!r} must be text, a number or JSON data.")
        fields[key] = _clean_text(text)
    source = fields.pop("digital_source_type", "") or DIGITAL_SOURCE_TYPE_AI
    if "://" not in source:
        source = _DIGITAL_SOURCE_TYPE_BASE + source
    generator = fields.pop("generator", "") or GENERATOR
    parameters = fields.pop("parameters", "")
    if strip_parameters:
        return {"digital_source_type": source, "generator": generator}
    result = {"digital_source_type": source, "generator": generator, **fields}
    if parameters:
        result["parameters"] = parameters
    return result


def _a1111_parameters(fields: Mapping[str, str], size: tuple[int, int]) -> str:
    """The "parameters" text AUTOMATIC1111 writes, which many image tools can read."""

    def quote(value: str) -> str:
        return json.dumps(value, ensure_ascii=False) if any(c in value for c in ',:"\n') else value

    lines = []
    if fields.get("prompt"):
        lines.append(fields["prompt"])
    if fields.get("negative_prompt"):
        lines.append(f"Negative prompt: {fields['negative_prompt']}")
    settings = [
        ("Steps", fields.get("steps")),
        ("Sampler", fields.get("sampler")),
        ("CFG scale", fields.get("guidance_scale")),
        ("Seed", fields.get("seed")),
        ("Size", f"{size[0]}x{size[1]}"),
        ("Model", fields.get("model")),
        ("Provider", fields.get("provider")),
        ("Generator", fields.get("generator")),
    ]
    lines.append(", ".join(f"{name}: {quote(value)}" for name, value in settings if value))
    return "\n".join(lines)


def _build_xmp(fields: Mapping[str, str], *, limit: int | None = None) -> bytes:
    """An XMP packet for these fields; long values are cut when the container has a limit."""

    def render(values: Mapping[str, str], truncated: bool) -> bytes:
        esc = lambda s: _xml_escape(s, {"\r": "&#13;"})  # noqa: E731 - keep \r through parsing
        ns = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in _NS.items() if prefix != "x")
        parts = [
            '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>',
            '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
            "<rdf:RDF " + ns.split(" ", 1)[0] + ">",
            '<rdf:Description rdf:about="" ' + ns.split(" ", 1)[1] + ">",
            f"<Iptc4xmpExt:DigitalSourceType>{esc(values['digital_source_type'])}</Iptc4xmpExt:DigitalSourceType>",
            f"<xmp:CreatorTool>{esc(values['generator'])}</xmp:CreatorTool>",
        ]
        if values.get("prompt"):
            parts.append(
                '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">'
                f"{esc(values['prompt'])}</rdf:li></rdf:Alt></dc:description>"
            )
        for key, value in values.items():
            if key in ("digital_source_type", "generator", "prompt", "parameters"):
                continue
            parts.append(f"<blogimages:{key}>{esc(value)}</blogimages:{key}>")
        if truncated:
            parts.append("<blogimages:truncated>true</blogimages:truncated>")
        parts += ["</rdf:Description>", "</rdf:RDF>", "</x:xmpmeta>", '<?xpacket end="w"?>']
        return "\n".join(parts).encode("utf-8")

    packet = render(fields, False)
    cut = 16_000
    while limit is not None and len(packet) > limit:
        shortened = {k: (v if len(v) <= cut else v[:cut] + "…") for k, v in fields.items()}
        packet = render(shortened, True)
        cut //= 2
    return packet


def embed_provenance(data: bytes, info: Mapping[str, Any], *, strip_parameters: bool = False) -> bytes:
    """Write where the image came from into the file itself, without touching the pixels.

    `info` holds the generation facts — prompt, negative_prompt, provider, model, seed, and
    any other identifier-named scalar (steps, sampler, revised_prompt...). The IPTC digital
    source type defaults to trainedAlgorithmicMedia (override with `digital_source_type`,
    a code or a full URI). PNG gets text chunks (with an A1111-style "parameters" summary)
    and an XMP packet; JPEG and WebP get an XMP packet. Any earlier XMP packet is replaced.

    `strip_parameters=True` writes only the AI-generated marker (digital source type and the
    generator name) and removes generation details already in the file: prompt-bearing PNG
    text chunks (A1111 "parameters", ComfyUI "prompt"/"workflow"...), JPEG comments and
    IPTC-IIM blocks, and EXIF beyond the orientation tag.
    """
    _normalise_info(info, strip_parameters=strip_parameters)  # caller mistakes first
    # Container surgery needs only the format and size: no pixel decoding.
    im = open_image(data, decode=False)
    fmt = format_name(im)
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"Provenance can be embedded in PNG, JPEG and WebP files, not {fmt.upper() or 'this'}.")
    return embed(bytes(data), fmt, info, strip_parameters=strip_parameters, size=im.size)


def embed_provenance_parts(data: bytes, info: Mapping[str, Any]) -> list[bytes | memoryview]:
    """`embed_provenance(data, info)` as the pieces that make it up, in order: for a PNG, views
    of `data` around the new chunks, so no second full-size copy of the file is made (the
    store path writes the pieces straight to storage); one piece for JPEG and WebP."""
    _normalise_info(info, strip_parameters=False)
    im = open_image(data, decode=False)
    fmt = format_name(im)
    if fmt != "png":
        return [embed_provenance(data, info)]
    try:
        return _png_parts(memoryview(data), _normalise_info(info, strip_parameters=False), strip_parameters=False,
                          size=im.size)
    except (IndexError, struct.error) as exc:
        raise InvalidImage(f"Malformed PNG container: {exc}") from exc


def embed(data: bytes, fmt: str, info: Mapping[str, Any], *, strip_parameters: bool, size: tuple[int, int]) -> bytes:
    fields = _normalise_info(info, strip_parameters=strip_parameters)
    try:
        if fmt == "png":
            return _png_embed(data, fields, strip_parameters=strip_parameters, size=size)
        if fmt == "jpeg":
            return _jpeg_embed(data, fields, strip_parameters=strip_parameters)
        return _webp_embed(data, fields, strip_parameters=strip_parameters, size=size)
    except (IndexError, struct.error) as exc:
        raise InvalidImage(f"Malformed {fmt.upper()} container: {exc}") from exc


def _minimal_exif(raw: bytes | None) -> bytes | None:
    """EXIF reduced to the orientation tag (with the b"Exif\\0\\0" header), or None."""
    if not raw:
        return None
    try:
        exif = Image.Exif()
        exif.load(raw)
        orientation = exif.get(0x0112)
    except Exception:  # noqa: BLE001 - corrupt EXIF is simply dropped
        return None
    if orientation in (None, 1):
        return None
    minimal = Image.Exif()
    minimal[0x0112] = orientation
    return minimal.tobytes()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, whole chunk with length and CRC) for each chunk of a PNG, up to IEND."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos : pos + 12 + length]
        if len(chunk) != 12 + length:
            raise InvalidImage("Malformed PNG: a chunk runs past the end of the file.")
        pos += 12 + length
        yield kind, chunk
        if kind == b"IEND":
            return


def _png_text_chunk(key: str, value: str) -> bytes:
    try:
        return _png_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1"))
    except UnicodeEncodeError:
        # iTXt: keyword, no compression, empty language and translated keyword, UTF-8 text.
        return _png_chunk(b"iTXt", key.encode("latin-1") + b"\x00\x00\x00\x00\x00" + value.encode("utf-8"))


# ComfyUI's SaveImage writes the graph it ran as JSON under these keys; ComfyUI reads them
# back when the image is dropped on its page, so they are kept (unless parameters are stripped).
COMFYUI_PNG_KEYS = ("prompt", "workflow")


def _png_text_value(chunk: bytes) -> tuple[str, str] | None:
    """(keyword, text) of a tEXt, zTXt or iTXt chunk (whole, with length and CRC), or None."""
    chunk = bytes(chunk)  # a text chunk (small) may come as a view of the file
    kind, payload = chunk[4:8], chunk[8:-4]
    key, _, rest = payload.partition(b"\x00")
    try:
        if kind == b"tEXt":
            return key.decode("latin-1"), rest.decode("latin-1")
        if kind == b"zTXt":
            return key.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")
        if kind == b"iTXt":
            compressed, rest = rest[0], rest[2:]
            _lang, _, rest = rest.partition(b"\x00")
            _translated, _, value = rest.partition(b"\x00")
            return key.decode("latin-1"), (zlib.decompress(value) if compressed else value).decode("utf-8")
    except (zlib.error, UnicodeDecodeError, IndexError):
        return None
    return None


def _comfyui_graph_keys(data: bytes) -> set[str]:
    """Which of ComfyUI's keys hold a graph (a JSON object) in this PNG."""
    found = set()
    for kind, chunk in _png_chunks(data):
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            pair = _png_text_value(chunk)
            if pair and pair[0] in COMFYUI_PNG_KEYS and pair[1].lstrip().startswith("{"):
                try:
                    if isinstance(json.loads(pair[1]), dict):
                        found.add(pair[0])
                except ValueError:
                    pass
        elif kind == b"IDAT":
            break
    return found


def _png_embed(data: bytes, fields: dict[str, str], *, strip_parameters: bool, size: tuple[int, int]) -> bytes:
    return b"".join(_png_parts(memoryview(data), fields, strip_parameters=strip_parameters, size=size))


def _png_parts(data: memoryview, fields: dict[str, str], *, strip_parameters: bool,
               size: tuple[int, int]) -> list[bytes | memoryview]:
    text = dict(fields)
    comfy_keys = set() if strip_parameters else _comfyui_graph_keys(data)
    for key in comfy_keys:
        # Our prompt stays in the XMP description and "parameters"; ComfyUI's graph keeps its key.
        text.pop(key, None)
    if not strip_parameters:
        text["parameters"] = fields.get("parameters") or _a1111_parameters(fields, size)
    new_chunks = [_png_text_chunk(key, value) for key, value in text.items()]
    new_chunks.append(_png_chunk(b"iTXt", _PNG_XMP_KEY.encode() + b"\x00\x00\x00\x00\x00" + _build_xmp(fields)))
    out = [data[:8]]
    inserted = False
    for kind, chunk in _png_chunks(data):
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            key = bytes(chunk[8 : 8 + min(len(chunk) - 12, 80)]).split(b"\x00", 1)[0].decode("latin-1")
            if key in comfy_keys:
                out.append(chunk)
                continue
            if key == _PNG_XMP_KEY or key in text:
                continue
            if strip_parameters and key not in _PNG_KEEP_WHEN_STRIPPED:
                continue
        elif kind == b"eXIf" and strip_parameters:
            minimal = _minimal_exif(bytes(chunk[8:-4]))
            if minimal is None:
                continue
            chunk = _png_chunk(b"eXIf", minimal[6:])
        if kind in (b"IDAT", b"IEND") and not inserted:
            out.extend(new_chunks)
            inserted = True
        out.append(chunk)
    return out


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg_embed(data: bytes, fields: dict[str, str], *, strip_parameters: bool) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise InvalidImage("Malformed JPEG: no start-of-image marker.")
    segments: list[tuple[int, bytes]] = []
    pos = 2
    while True:
        if data[pos] != 0xFF:
            raise InvalidImage("Malformed JPEG: expected a marker.")
        while data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):  # start of scan / end of image: copy the rest as is
            tail = data[pos:]
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            segments.append((marker, data[pos : pos + 2]))
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos : pos + 2 + length]
        if length < 2 or len(segment) != 2 + length:
            raise InvalidImage("Malformed JPEG: a segment runs past the end of the file.")
        segments.append((marker, segment))
        pos += 2 + length

    kept: list[tuple[int, bytes]] = []
    for marker, segment in segments:
        payload = segment[4:]
        if marker == 0xE1 and (payload.startswith(_JPEG_XMP_HEADER) or payload.startswith(_JPEG_XMP_EXT_HEADER)):
            continue
        if strip_parameters:
            if marker in (0xFE, 0xED):  # comments, Photoshop IRB / IPTC-IIM captions
                continue
            if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
                minimal = _minimal_exif(payload)
                if minimal is None:
                    continue
                segment = _jpeg_segment(0xE1, minimal)
        kept.append((marker, segment))
    xmp = _jpeg_segment(0xE1, _JPEG_XMP_HEADER + _build_xmp(fields, limit=_JPEG_XMP_MAX))
    # After JFIF (APP0) and EXIF (APP1), where readers expect the XMP packet.
    at = 0
    while at < len(kept) and (kept[at][0] == 0xE0 or (kept[at][0] == 0xE1 and kept[at][1][4:10] == b"Exif\x00\x00")):
        at += 1
    kept.insert(at, (0xE1, xmp))
    return b"\xff\xd8" + b"".join(segment for _, segment in kept) + tail


def _riff_chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) % 2 else b"")


def webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (fourcc, payload) chunks of a WebP file."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise InvalidImage("Malformed WebP: no RIFF/WEBP header.")
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        payload = data[pos + 8 : pos + 8 + length]
        if len(payload) != length:
            raise InvalidImage("Malformed WebP: a chunk runs past the end of the file.")
        chunks.append((kind, payload))
        pos += 8 + length + (length % 2)
    return chunks


def _webp_embed(data: bytes, fields: dict[str, str], *, strip_parameters: bool, size: tuple[int, int]) -> bytes:
    chunks = webp_chunks(data)
    if not chunks:
        raise InvalidImage("Malformed WebP: no chunks.")

    if chunks[0][0] == b"VP8X":
        flags = chunks[0][1][0]
        canvas = chunks[0][1][4:10]
        chunks = chunks[1:]
    else:
        # A simple file (one VP8 or VP8L chunk): extended format is needed for metadata.
        flags = 0
        kind, payload = chunks[0]
        if kind == b"VP8L" and len(payload) >= 5 and (int.from_bytes(payload[1:5], "little") >> 28) & 1:
            flags |= 0x10  # alpha
        canvas = (size[0] - 1).to_bytes(3, "little") + (size[1] - 1).to_bytes(3, "little")
    exif: bytes | None = None
    body: list[bytes] = []
    for kind, payload in chunks:
        if kind == b"XMP ":
            continue
        if kind == b"EXIF":
            exif = payload
            if strip_parameters:
                minimal = _minimal_exif(payload if payload.startswith(b"Exif") else b"Exif\x00\x00" + payload)
                exif = minimal[6:] if minimal else None
            continue
        body.append(_riff_chunk(kind, payload))
    flags &= ~0x0C
    if exif:
        flags |= 0x08
        body.append(_riff_chunk(b"EXIF", exif))
    flags |= 0x04
    body.append(_riff_chunk(b"XMP ", _build_xmp(fields)))
    vp8x = _riff_chunk(b"VP8X", bytes((flags, 0, 0, 0)) + canvas)
    content = b"WEBP" + vp8x + b"".join(body)
    return b"RIFF" + struct.pack("<I", len(content)) + content


def strip_personal_metadata(data: bytes) -> bytes:
    """An uploaded file without what may identify a person or a place — EXIF (GPS, camera
    serial, owner, dates) reduced to its orientation tag, XMP, IPTC, comments and PNG text —
    with the pixels, the colour profile and the container untouched (no re-encoding)."""
    fmt = format_name(open_image(data, decode=False))
    try:
        if fmt == "png":
            return _png_strip(data)
        if fmt == "jpeg":
            return _jpeg_strip(data)
        if fmt == "webp":
            return _webp_strip(data)
    except (IndexError, struct.error) as exc:
        raise InvalidImage(f"Malformed {fmt.upper()} container: {exc}") from exc
    raise InvalidImage(f"Unsupported image format {fmt or 'unknown'}; PNG, JPEG or WebP expected.")


def _png_strip(data: bytes) -> bytes:
    out = [data[:8]]
    for kind, chunk in _png_chunks(data):
        if kind in (b"tEXt", b"zTXt", b"iTXt", b"tIME"):
            continue
        if kind == b"eXIf":
            minimal = _minimal_exif(b"Exif\x00\x00" + chunk[8:-4])
            if minimal is None:
                continue
            chunk = _png_chunk(b"eXIf", minimal[6:])
        out.append(chunk)
    return b"".join(out)


def _jpeg_strip(data: bytes) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise InvalidImage("Malformed JPEG: no start-of-image marker.")
    out, pos = [b"\xff\xd8"], 2
    while True:
        if data[pos] != 0xFF:
            raise InvalidImage("Malformed JPEG: expected a marker.")
        while data[pos + 1] == 0xFF:
            pos += 1
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):
            out.append(data[pos:])
            return b"".join(out)
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos : pos + 2 + length]
        if length < 2 or len(segment) != 2 + length:
            raise InvalidImage("Malformed JPEG: a segment runs past the end of the file.")
        pos += 2 + length
        payload = segment[4:]
        if marker == 0xE1:  # EXIF or XMP
            if not payload.startswith(b"Exif\x00\x00"):
                continue
            minimal = _minimal_exif(payload)
            if minimal is None:
                continue
            segment = _jpeg_segment(0xE1, minimal)
        elif marker in (0xED, 0xFE) or 0xE3 <= marker <= 0xEF and marker != 0xEE:
            continue  # IPTC/Photoshop, comments, vendor segments (maker notes, previews); Adobe APP14 stays
        out.append(segment)


def _webp_strip(data: bytes) -> bytes:
    chunks = webp_chunks(data)
    if not chunks or chunks[0][0] != b"VP8X":
        return data  # a simple WebP has no room for metadata
    flags, rest = chunks[0][1][0], chunks[0][1][1:]
    body: list[bytes] = []
    flags &= ~0x0C
    for kind, payload in chunks[1:]:
        if kind == b"XMP ":
            continue
        if kind == b"EXIF":
            minimal = _minimal_exif(payload if payload.startswith(b"Exif") else b"Exif\x00\x00" + payload)
            if minimal is None:
                continue
            flags |= 0x08
            payload = minimal[6:]
        body.append(_riff_chunk(kind, payload))
    content = b"WEBP" + _riff_chunk(b"VP8X", bytes((flags,)) + rest) + b"".join(body)
    return b"RIFF" + struct.pack("<I", len(content)) + content


def read_provenance(data: bytes) -> dict[str, Any]:
    """What an image says about its origin: prompt, provider, model, seed, digital_source_type...

    Reads the XMP packet (PNG, JPEG, WebP) and, for PNG, the text chunks. Returns {} when the
    file carries no provenance. `seed` and `steps` come back as ints, `guidance_scale` as a
    float, everything else as text.
    """
    return provenance_from_image(open_image(data))


def provenance_from_image(im: Image.Image) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if format_name(im) == "png":
        text = getattr(im, "text", {}) or {}
        for key in _PNG_PROVENANCE_KEYS:
            if key in text:
                result[key] = str(text[key])
    xmp = im.info.get("xmp") or im.info.get(_PNG_XMP_KEY) or getattr(im, "text", {}).get(_PNG_XMP_KEY)
    if xmp:
        result.update(_parse_xmp(xmp if isinstance(xmp, bytes) else str(xmp).encode("utf-8")))
    for key in list(result):
        value = result[key]
        if key in _INT_KEYS and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            result[key] = int(value)
        elif key in _FLOAT_KEYS and isinstance(value, str):
            try:
                result[key] = float(value)
            except ValueError:
                pass
    return result


def _parse_xmp(packet: bytes) -> dict[str, str]:
    packet = packet.rstrip(b"\x00 \t\r\n")
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        return {}  # XMP never needs a DTD; refuse entity tricks outright
    try:
        root = ElementTree.fromstring(packet)
    except ElementTree.ParseError:
        return {}
    rdf, dc, ext, xmp_ns = (f"{{{_NS[p]}}}" for p in ("rdf", "dc", "Iptc4xmpExt", "xmp"))
    ours = f"{{{XMP_NAMESPACE}}}"
    found: dict[str, str] = {}
    for desc in root.iter(f"{rdf}Description"):
        for name, value in desc.attrib.items():
            if name.startswith(ours):
                found[name[len(ours) :]] = value
            elif name == f"{ext}DigitalSourceType":
                found["digital_source_type"] = value
            elif name == f"{xmp_ns}CreatorTool":
                found["generator"] = value
        for child in desc:
            if child.tag.startswith(ours):
                found[child.tag[len(ours) :]] = child.text or ""
            elif child.tag == f"{ext}DigitalSourceType":
                found["digital_source_type"] = (child.text or child.get(f"{rdf}resource") or "").strip()
            elif child.tag == f"{xmp_ns}CreatorTool":
                found["generator"] = (child.text or "").strip()
            elif child.tag == f"{dc}description":
                items = list(child.iter(f"{rdf}li"))
                default = [li for li in items if li.get(_XML_LANG) == "x-default"] or items
                if default:
                    found["prompt"] = default[0].text or ""
    found.pop("truncated", None)
    source_type = found.get("digital_source_type", "")
    ours = found.get("generator") == GENERATOR or any(
        key not in ("digital_source_type", "generator", "prompt") for key in found
    )
    if not ours and not source_type:
        return {}  # someone else's XMP that says nothing about how the image was made
    if not ours and "algorithmicmedia" not in source_type.lower():
        found.pop("prompt", None)  # dc:description is a caption here, not a prompt
    return found
