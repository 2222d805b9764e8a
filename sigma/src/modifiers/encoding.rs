//! Encoding modifiers: `base64`, `base64offset`, `wide`/`utf16le`, `utf16be`, `utf16`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// `base64`: the value encoded.
pub fn base64(v: &[u8]) -> Vec<u8> {
    STANDARD.encode(v).into_bytes()
}

/// `base64offset`: the three encodings of the value at offsets 0, 1 and 2 within a longer
/// base64 stream, trimmed to the characters that do not depend on the surrounding bytes.
pub fn base64offset(v: &[u8]) -> Vec<Vec<u8>> {
    const START: [usize; 3] = [0, 2, 3];
    const END_TRIM: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut input = vec![b' '; i];
            input.extend_from_slice(v);
            let enc = STANDARD.encode(&input).into_bytes();
            let trim = END_TRIM[(v.len() + i) % 3];
            let end = enc.len().saturating_sub(trim);
            enc.get(START[i]..end)
                .map(<[u8]>::to_vec)
                .unwrap_or_default()
        })
        .collect()
}

fn utf16_units(v: &[u8]) -> Vec<u16> {
    String::from_utf8_lossy(v).encode_utf16().collect()
}

/// `utf16le` / `wide`.
pub fn utf16le(v: &[u8]) -> Vec<u8> {
    utf16_units(v)
        .into_iter()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// `utf16be`.
pub fn utf16be(v: &[u8]) -> Vec<u8> {
    utf16_units(v)
        .into_iter()
        .flat_map(u16::to_be_bytes)
        .collect()
}

/// `utf16`: byte order mark then little endian.
pub fn utf16(v: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    out.extend(utf16le(v));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        assert_eq!(utf16le(b"cmd"), vec![0x63, 0, 0x6d, 0, 0x64, 0]);
        assert_eq!(utf16be(b"cmd"), vec![0, 0x63, 0, 0x6d, 0, 0x64]);
        assert_eq!(utf16(b"cmd"), vec![0xFF, 0xFE, 0x63, 0, 0x6d, 0, 0x64, 0]);
        assert_eq!(base64(b"http://"), b"aHR0cDovLw==".to_vec());
    }

    #[test]
    fn offsets_match_pysigma() {
        // pySigma: /bin/bash -> L2Jpbi9iYXNo, 9iaW4vYmFza, vYmluL2Jhc2
        let v: Vec<String> = base64offset(b"/bin/bash")
            .into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect();
        assert_eq!(v, vec!["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]);
        // every variant is found in an encoding of the value at any offset
        for pre in ["", "a", "ab", "abc"] {
            let enc = String::from_utf8(base64(format!("{pre}/bin/bash tail").as_bytes())).unwrap();
            assert!(v.iter().any(|x| enc.contains(x.as_str())), "{pre}: {enc}");
        }
    }
}
