//! Rubin cutouts: uncompressed FITS files (image, variance, PSF HDUs) remade at other sizes.
//!
//! A template cutout is split into its HDUs once; each synthetic cutout keeps every header
//! card of the template, with new image sizes (`NAXIS1`/`NAXIS2`), a new position
//! (`CRVAL1`/`CRVAL2`, `CRPIX1`/`CRPIX2`, `CUTMINX`/`CUTMINY`), and pixels resampled from the
//! template's (nearest neighbour) with fresh noise on the 32-bit float planes. Headers and
//! data are padded to 2880-byte blocks, so the result is valid FITS whose length varies as
//! Rubin's does with the cutout and PSF sizes.

use super::super::Rng;

/// FITS block size.
pub const BLOCK: usize = 2880;
const CARD: usize = 80;

/// One header-data unit of a template cutout.
#[derive(Debug, Clone)]
struct Hdu {
    /// Header cards without `END`.
    cards: Vec<[u8; CARD]>,
    /// Bytes per pixel, negative for floats (`BITPIX / 8`).
    bitpix: i64,
    width: usize,
    height: usize,
    /// Unpadded pixel bytes (big-endian).
    data: Vec<u8>,
    /// The PSF model plane (`EXTNAME = 'PSFIMAGE'`): resized with the PSF side.
    psf: bool,
    /// Standard deviation of the plane's finite pixels (32-bit float planes).
    sigma: f32,
}

/// A template cutout, split into HDUs.
#[derive(Debug, Clone)]
pub struct Cutout {
    hdus: Vec<Hdu>,
}

/// Sizes and position of one synthetic cutout.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Side of the image and variance planes, pixels.
    pub side: usize,
    /// Side of the PSF plane, pixels.
    pub psf_side: usize,
    /// Right ascension of the centre, degrees.
    pub ra: f64,
    /// Declination of the centre, degrees.
    pub dec: f64,
    /// Corner of the cutout on the detector.
    pub corner: (i64, i64),
}

fn key(card: &[u8; CARD]) -> &str {
    std::str::from_utf8(&card[..8]).unwrap_or("").trim_end()
}

fn value(card: &[u8; CARD]) -> Option<&str> {
    if &card[8..10] != b"= " {
        return None;
    }
    let text = std::str::from_utf8(&card[10..]).ok()?;
    let v = match text.find(" /") {
        Some(i) if !text.trim_start().starts_with('\'') => &text[..i],
        _ => text,
    };
    Some(v.trim())
}

/// A card `KEY     = value / comment`, the value right-aligned in columns 11-30 as FITS's
/// fixed format wants for numbers; the template card's comment is kept.
fn card(old: &[u8; CARD], val: &str) -> [u8; CARD] {
    let mut out = [b' '; CARD];
    out[..10].copy_from_slice(&old[..10]);
    let text = format!("{val:>20}");
    let comment = std::str::from_utf8(&old[10..])
        .ok()
        .and_then(|t| t.find(" /").map(|i| t[i..].to_string()))
        .unwrap_or_default();
    let line = format!("{text}{comment}");
    let n = line.len().min(CARD - 10);
    out[10..10 + n].copy_from_slice(&line.as_bytes()[..n]);
    out
}

impl Cutout {
    /// Splits a FITS file into HDUs; `None` when it is not one (or uses what this does not
    /// resample: more than two axes, or integer pixels of other than 8 bits).
    pub fn parse(bytes: &[u8]) -> Option<Cutout> {
        let mut hdus = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let mut cards = Vec::new();
            let mut ended = false;
            while !ended {
                let block = bytes.get(at..at + BLOCK)?;
                at += BLOCK;
                for c in block.chunks_exact(CARD) {
                    let mut c80 = [b' '; CARD];
                    c80.copy_from_slice(c);
                    if key(&c80) == "END" {
                        ended = true;
                        break;
                    }
                    cards.push(c80);
                }
            }
            let num = |k: &str| {
                cards
                    .iter()
                    .find(|c| key(c) == k)
                    .and_then(|c| value(c))
                    .and_then(|v| v.parse::<i64>().ok())
            };
            let bitpix = num("BITPIX")? / 8;
            let naxis = num("NAXIS")?;
            let (width, height) = match naxis {
                0 => (0, 0),
                2 => (
                    usize::try_from(num("NAXIS1")?).ok()?,
                    usize::try_from(num("NAXIS2")?).ok()?,
                ),
                _ => return None,
            };
            if ![1, -4, -8].contains(&bitpix) {
                return None;
            }
            let len = width * height * bitpix.unsigned_abs() as usize;
            let data = bytes.get(at..at + len)?.to_vec();
            at += len.div_ceil(BLOCK) * BLOCK;
            let psf = cards
                .iter()
                .any(|c| key(c) == "EXTNAME" && value(c).is_some_and(|v| v.contains("PSF")));
            let sigma = if bitpix == -4 { spread(&data) } else { 0.0 };
            hdus.push(Hdu {
                cards,
                bitpix,
                width,
                height,
                data,
                psf,
                sigma,
            });
        }
        (!hdus.is_empty()).then_some(Cutout { hdus })
    }

    /// Length of the template cutout.
    #[cfg(test)]
    pub fn template_len(&self) -> usize {
        self.hdus
            .iter()
            .map(|h| {
                (h.cards.len() + 1).div_ceil(36) * BLOCK + h.data.len().div_ceil(BLOCK) * BLOCK
            })
            .sum()
    }

    /// Side of the template's PSF plane (0 without one).
    #[cfg(test)]
    pub fn psf_side(&self) -> usize {
        self.hdus.iter().find(|h| h.psf).map_or(0, |h| h.width)
    }

    /// Writes a cutout of `shape` to `out` (cleared first).
    pub fn render(&self, shape: &Shape, rng: &mut Rng, out: &mut Vec<u8>) {
        out.clear();
        for h in &self.hdus {
            let side = if h.width == 0 {
                0
            } else if h.psf {
                shape.psf_side
            } else {
                shape.side
            };
            let mid = side as f64 / 2.0 + 0.5;
            for c in &h.cards {
                let v = match key(c) {
                    "NAXIS1" | "NAXIS2" => Some(side.to_string()),
                    "CRVAL1" => Some(format!("{:.12}", shape.ra)),
                    "CRVAL2" => Some(format!("{:.12}", shape.dec)),
                    "CRPIX1" | "CRPIX2" => Some(format!("{mid:.12}")),
                    "CUTMINX" => Some(shape.corner.0.to_string()),
                    "CUTMINY" => Some(shape.corner.1.to_string()),
                    _ => None,
                };
                match v {
                    Some(v) => out.extend_from_slice(&card(c, &v)),
                    None => out.extend_from_slice(c),
                }
            }
            let mut end = [b' '; CARD];
            end[..3].copy_from_slice(b"END");
            out.extend_from_slice(&end);
            out.resize(out.len().div_ceil(BLOCK) * BLOCK, b' ');
            let start = out.len();
            resample(h, side, rng, out);
            let len = out.len() - start;
            out.resize(start + len.div_ceil(BLOCK) * BLOCK, 0);
        }
    }
}

/// Standard deviation of the finite big-endian f32 values.
fn spread(data: &[u8]) -> f32 {
    let (mut n, mut s, mut s2) = (0f64, 0f64, 0f64);
    for px in data.chunks_exact(4) {
        let v = f64::from(f32::from_be_bytes([px[0], px[1], px[2], px[3]]));
        if v.is_finite() {
            n += 1.0;
            s += v;
            s2 += v * v;
        }
    }
    if n < 2.0 {
        return 0.0;
    }
    let var = (s2 - s * s / n) / (n - 1.0);
    var.max(0.0).sqrt() as f32
}

/// An approximately normal deviate (Irwin-Hall of four uniforms, unit variance).
fn normal(rng: &mut Rng) -> f32 {
    let x = rng.next();
    let sum: f32 = (0..4)
        .map(|i| ((x >> (16 * i)) & 0xffff) as f32 / 65_536.0)
        .sum();
    (sum - 2.0) * 3f32.sqrt()
}

/// Appends the plane resampled to `side` x `side` (nearest neighbour); 32-bit float planes
/// get noise of a tenth of their spread, so no two cutouts are the same bytes.
fn resample(h: &Hdu, side: usize, rng: &mut Rng, out: &mut Vec<u8>) {
    let size = h.bitpix.unsigned_abs() as usize;
    if side == 0 || h.width == 0 || h.height == 0 {
        return;
    }
    out.reserve(side * side * size);
    for y in 0..side {
        let sy = y * h.height / side;
        for x in 0..side {
            let sx = x * h.width / side;
            let at = (sy * h.width + sx) * size;
            let px = &h.data[at..at + size];
            if h.bitpix == -4 {
                let v = f32::from_be_bytes([px[0], px[1], px[2], px[3]]);
                let v = v + 0.1 * h.sigma * normal(rng);
                out.extend_from_slice(&v.to_be_bytes());
            } else {
                out.extend_from_slice(px);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-HDU FITS file: a `side` x `side` f32 image and an 11 x 11 f64 PSF.
    fn sample(side: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let hdu = |out: &mut Vec<u8>, cards: &[String], data: Vec<u8>| {
            for c in cards.iter().chain(std::iter::once(&"END".to_string())) {
                out.extend_from_slice(format!("{c:<80}").as_bytes());
            }
            out.resize(out.len().div_ceil(BLOCK) * BLOCK, b' ');
            let n = data.len();
            out.extend(data);
            out.resize(out.len() + n.div_ceil(BLOCK) * BLOCK - n, 0);
        };
        let img: Vec<u8> = (0..side * side)
            .flat_map(|i| (i as f32).to_be_bytes())
            .collect();
        hdu(
            &mut out,
            &[
                format!("{:<8}= {:>20}", "SIMPLE", "T"),
                format!("{:<8}= {:>20}", "BITPIX", "-32"),
                format!("{:<8}= {:>20}", "NAXIS", "2"),
                format!("{:<8}= {:>20} / width", "NAXIS1", side),
                format!("{:<8}= {:>20}", "NAXIS2", side),
                format!("{:<8}= {:>20} / centre", "CRVAL1", "1.0"),
            ],
            img,
        );
        let psf: Vec<u8> = (0..121).flat_map(|i| f64::from(i).to_be_bytes()).collect();
        hdu(
            &mut out,
            &[
                format!("{:<8}= {:>20}", "XTENSION", "'IMAGE   '"),
                format!("{:<8}= {:>20}", "BITPIX", "-64"),
                format!("{:<8}= {:>20}", "NAXIS", "2"),
                format!("{:<8}= {:>20}", "NAXIS1", "11"),
                format!("{:<8}= {:>20}", "NAXIS2", "11"),
                format!("{:<8}= {:>20}", "EXTNAME", "'PSFIMAGE'"),
            ],
            psf,
        );
        out
    }

    #[test]
    fn cutouts_are_remade_at_other_sizes_in_whole_blocks() {
        let bytes = sample(30);
        let c = Cutout::parse(&bytes).expect("parses");
        assert_eq!(c.template_len(), bytes.len());
        assert_eq!(c.psf_side(), 11);
        let mut rng = Rng(3);
        let mut out = Vec::new();
        let shape = Shape {
            side: 40,
            psf_side: 61,
            ra: 12.5,
            dec: -30.25,
            corner: (100, 200),
        };
        c.render(&shape, &mut rng, &mut out);
        assert_eq!(out.len() % BLOCK, 0);
        // header block + 40*40*4 bytes, header block + 61*61*8 bytes
        let want = BLOCK
            + (6400usize).div_ceil(BLOCK) * BLOCK
            + BLOCK
            + 29_768usize.div_ceil(BLOCK) * BLOCK;
        assert_eq!(out.len(), want);
        let again = Cutout::parse(&out).expect("the result parses again");
        assert_eq!(again.hdus[0].width, 40);
        assert_eq!(again.hdus[1].width, 61);
        assert!(again.hdus[1].psf);
        let crval = again.hdus[0]
            .cards
            .iter()
            .find(|c| key(c) == "CRVAL1")
            .and_then(|c| value(c))
            .expect("CRVAL1");
        assert_eq!(crval.parse::<f64>().ok(), Some(12.5));
        assert!(String::from_utf8_lossy(&out[..BLOCK]).contains("/ width"));
        // resampled pixels stay near the template's (noise is a tenth of the spread)
        let px = f32::from_be_bytes([out[BLOCK], out[BLOCK + 1], out[BLOCK + 2], out[BLOCK + 3]]);
        assert!(px.abs() < 100.0, "{px}");
    }

    #[test]
    fn non_fits_is_refused() {
        assert!(Cutout::parse(b"").is_none());
        assert!(Cutout::parse(&[b' '; 100]).is_none());
        assert!(Cutout::parse(&vec![b'x'; BLOCK]).is_none());
    }
}
