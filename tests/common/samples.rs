//! Small valid files for the upload tests: what the uploads' content checks accept as a photo or a PDF.

/// A valid 1×1 grey PNG.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3A, 0x7E, 0x9B, 0x55, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41,
    0x54, 0x78, 0x9C, 0x63, 0x68, 0x00, 0x00, 0x00, 0x82, 0x00, 0x81, 0x77, 0xCD, 0x72, 0xB6, 0x00, 0x00, 0x00, 0x00, 0x49,
    0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// A minimal PDF.
pub const PDF: &[u8] = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";

/// A valid 1×1 grey baseline JPEG: flat quantisation, one-code Huffman tables, one block that is all DC 0.
pub fn jpeg() -> Vec<u8> {
    let segment = |marker: u8, body: &[u8]| {
        let mut out = vec![0xFF, marker];
        out.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
        out.extend_from_slice(body);
        out
    };
    let huffman = |class: u8| {
        let mut body = vec![class, 1];
        body.extend_from_slice(&[0; 15]);
        body.push(0);
        body
    };
    let mut out = vec![0xFF, 0xD8];
    out.extend(segment(0xDB, &[[0u8].as_slice(), &[1; 64]].concat()));
    out.extend(segment(0xC0, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]));
    out.extend(segment(0xC4, &huffman(0x00)));
    out.extend(segment(0xC4, &huffman(0x10)));
    out.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
    out.extend([0x3F, 0xFF, 0xD9]);
    out
}
