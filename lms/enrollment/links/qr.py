"""QR codes of invite links, as PNG for print and SVG for anything that scales."""
import io

import qrcode
from PIL import Image
from qrcode.image.svg import SvgPathFillImage

PNG_SIZES = range(200, 4001)  # pixels per side
PRINT_DPI = 300  # 1,200 px prints 10 cm wide


def _code(data):
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(data)
    code.make(fit=True)
    return code


def qr_png(data: str, size: int = 1200) -> bytes:
    """Exactly `size` x `size` pixels: whole pixels per module (sharp edges), the rest of the
    space added to the white margin."""
    code = _code(data)
    modules = code.modules_count + 2 * code.border
    code.box_size = max(1, size // modules)
    drawn = code.make_image().get_image().convert("1")
    canvas = Image.new("1", (size, size), 1)
    offset = (size - drawn.size[0]) // 2
    canvas.paste(drawn, (offset, offset))
    out = io.BytesIO()
    canvas.save(out, format="PNG", dpi=(PRINT_DPI, PRINT_DPI), optimize=True)
    return out.getvalue()


def qr_svg(data: str) -> bytes:
    return _code(data).make_image(image_factory=SvgPathFillImage).to_string(encoding="unicode").encode()
