//! QR codes of short URLs, made on the server: SVG (inline on pages, and as a download) and PNG.

use qrcode::render::svg;
use qrcode::{Color, QrCode};

/// Modules of white border around the code, as the standard asks.
const QUIET_ZONE: usize = 4;
/// PNG pixels per module: a 33-module code becomes a 328-pixel image, sharp enough to print.
const PNG_SCALE: usize = 8;

/// Why no QR code could be made.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("the text is too long for a QR code")]
    TooLong(#[from] qrcode::types::QrError),
    #[error("the PNG could not be written: {0}")]
    Png(#[from] png::EncodingError),
}

/// A standalone SVG document of `text`'s QR code.
pub fn svg_document(text: &str) -> Result<String, QrError> {
    let code = QrCode::new(text.as_bytes())?;
    Ok(code.render::<svg::Color<'_>>().min_dimensions(256, 256).quiet_zone(true).build())
}

/// `text`'s QR code as an `<svg>` element to put in a page: no XML declaration, a class that gives it a fixed size
/// (no layout shift), and a label for screen readers. Attributes only, no `style`, so the page's CSP holds.
pub fn svg_inline(text: &str, label: &str) -> Result<String, QrError> {
    let document = svg_document(text)?;
    let start = document.find("<svg").unwrap_or(0);
    let label = label.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    Ok(document[start..].replacen("<svg ", &format!("<svg class=\"qr\" role=\"img\" aria-label=\"{label}\" "), 1))
}

/// `text`'s QR code as a grayscale PNG.
pub fn png(text: &str) -> Result<Vec<u8>, QrError> {
    let code = QrCode::new(text.as_bytes())?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * PNG_SCALE;
    let mut pixels = vec![255u8; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (x, y) = ((index % modules + QUIET_ZONE) * PNG_SCALE, (index / modules + QUIET_ZONE) * PNG_SCALE);
        for row in y..y + PNG_SCALE {
            pixels[row * side + x..row * side + x + PNG_SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    let side = u32::try_from(side).unwrap_or(u32::MAX);
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_svg_has_no_declaration_and_no_style() {
        let svg = svg_inline("https://blink.example/abc", "QR code for \"x\"").unwrap();
        assert!(svg.starts_with("<svg class=\"qr\" role=\"img\" aria-label=\"QR code for &quot;x&quot;\""), "{svg}");
        assert!(!svg.contains("style") && !svg.contains("<?xml") && svg.ends_with("</svg>"));
    }

    #[test]
    fn png_is_a_png() {
        let png = png("https://blink.example/abc").unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    }
}
