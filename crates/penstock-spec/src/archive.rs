//! Pipeline packages: a `.tar.gz` or `.zip` holding one compiled pipeline file, as the KFP v1
//! compiler writes them (`Compiler().compile(p, 'p.tar.gz')`) and the v1 client uploads them.
//!
//! Only reading bytes: nothing is written to disk. The unpacked size is bounded, so a
//! compressed bomb costs at most a little more than the largest spec accepted.

use crate::SpecError;
use std::io::Read;

/// Extensions of the one file a package may hold.
const PIPELINE_EXTENSIONS: &[&str] = &[".yaml", ".yml", ".json"];

/// What kind of package `bytes` is, by its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageKind {
    /// gzip-compressed (a `.tar.gz`).
    Gzip,
    /// A zip archive.
    Zip,
    /// An uncompressed tar archive (POSIX or GNU `ustar` magic at offset 257).
    Tar,
}

/// Recognises a package by its first bytes; `None` for anything else (a plain spec).
pub fn package_kind(bytes: &[u8]) -> Option<PackageKind> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Some(PackageKind::Gzip)
    } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        Some(PackageKind::Zip)
    } else if bytes.get(257..263) == Some(b"ustar\0") || bytes.get(257..265) == Some(b"ustar  \0") {
        // POSIX and GNU magic; the NUL keeps a text file that happens to hold "ustar" there out.
        Some(PackageKind::Tar)
    } else {
        None
    }
}

/// Unpacks a package and returns the name and bytes of the one pipeline file inside it.
/// `max_bytes` bounds the unpacked size of that file and of the archive stream.
pub fn unpack(
    source: &str,
    bytes: &[u8],
    kind: PackageKind,
    max_bytes: usize,
) -> Result<(String, Vec<u8>), SpecError> {
    let files = match kind {
        PackageKind::Gzip => {
            // The tar around the file adds headers and padding: allow some room for them.
            let budget = max_bytes.saturating_add(1 << 20);
            let mut tar = Vec::new();
            flate2::read::GzDecoder::new(bytes)
                .take(budget as u64 + 1)
                .read_to_end(&mut tar)
                .map_err(|e| err(source, &format!("not a valid gzip file: {e}")))?;
            if tar.len() > budget {
                return Err(err(
                    source,
                    &format!(
                        "the package unpacks to more than {budget} bytes; a pipeline package \
                         holds one spec of at most {max_bytes} bytes (max_spec_bytes)"
                    ),
                ));
            }
            tar_files(source, &tar)?
        }
        PackageKind::Tar => tar_files(source, bytes)?,
        PackageKind::Zip => zip_files(source, bytes, max_bytes)?,
    };
    let mut specs: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .filter(|(name, _)| {
            let base = name.rsplit('/').next().unwrap_or(name);
            !base.starts_with("._")
                && PIPELINE_EXTENSIONS
                    .iter()
                    .any(|ext| base.to_ascii_lowercase().ends_with(ext))
        })
        .collect();
    match specs.len() {
        1 => {
            let (name, data) = specs.remove(0);
            Ok((format!("{source}!{name}"), data))
        }
        0 => Err(err(
            source,
            "the package holds no pipeline file; expected one .yaml, .yml or .json file \
             (as the KFP compiler writes `pipeline.yaml`)",
        )),
        _ => Err(err(
            source,
            &format!(
                "the package holds {} pipeline files ({}); expected exactly one",
                specs.len(),
                specs
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

fn err(source: &str, message: &str) -> SpecError {
    SpecError::new(source, "", message)
}

/// The regular files of a tar archive (ustar and GNU long names; pax headers are skipped).
fn tar_files(source: &str, tar: &[u8]) -> Result<Vec<(String, Vec<u8>)>, SpecError> {
    let mut files = Vec::new();
    let mut offset = 0usize;
    let mut long_name: Option<String> = None;
    while offset + 512 <= tar.len() {
        let header = &tar[offset..offset + 512];
        if header.iter().all(|b| *b == 0) {
            break;
        }
        let size = octal(&header[124..136]).ok_or_else(|| {
            err(
                source,
                &format!("malformed tar archive: bad size field in the header at byte {offset}"),
            )
        })?;
        let data_start = offset + 512;
        let data_end = data_start
            .checked_add(size)
            .filter(|end| *end <= tar.len())
            .ok_or_else(|| {
                err(
                    source,
                    &format!(
                        "malformed tar archive: an entry at byte {offset} claims {size} bytes, \
                         past the end of the archive"
                    ),
                )
            })?;
        let data = &tar[data_start..data_end];
        let name = {
            let plain = cstr(&header[0..100]);
            let prefix = if &header[257..262] == b"ustar" {
                cstr(&header[345..500])
            } else {
                String::new()
            };
            if prefix.is_empty() {
                plain
            } else {
                format!("{prefix}/{plain}")
            }
        };
        match header[156] {
            b'L' => long_name = Some(cstr(data)),
            b'0' | 0 => {
                let name = long_name.take().unwrap_or(name);
                files.push((name.trim_start_matches("./").to_string(), data.to_vec()));
            }
            _ => long_name = None,
        }
        offset = data_start + size.div_ceil(512) * 512;
    }
    Ok(files)
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn octal(field: &[u8]) -> Option<usize> {
    let text = cstr(field);
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    usize::from_str_radix(text, 8).ok()
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize)
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
}

/// The files of a zip archive (stored or deflated entries), read through its central
/// directory.
fn zip_files(
    source: &str,
    zip: &[u8],
    max_bytes: usize,
) -> Result<Vec<(String, Vec<u8>)>, SpecError> {
    let malformed = |what: &str| err(source, &format!("malformed zip archive: {what}"));
    // The end-of-central-directory record is in the last 22 + 65,535 bytes.
    let search_from = zip.len().saturating_sub(22 + 65_535);
    let eocd = (search_from..zip.len().saturating_sub(21))
        .rev()
        .find(|&i| zip[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(|| malformed("no end-of-central-directory record"))?;
    let entries = u16_at(zip, eocd + 10).ok_or_else(|| malformed("short directory record"))?;
    let mut at = u32_at(zip, eocd + 16).ok_or_else(|| malformed("short directory record"))?;
    let mut files = Vec::new();
    for _ in 0..entries {
        if !zip.get(at..).is_some_and(|r| r.starts_with(b"PK\x01\x02")) {
            return Err(malformed("a central directory entry is missing"));
        }
        let field = |off: usize| u16_at(zip, at + off).ok_or_else(|| malformed("short entry"));
        let method = field(10)?;
        let compressed =
            u32_at(zip, at + 20).ok_or_else(|| malformed("short central directory entry"))?;
        let name_len = field(28)?;
        let extra_len = field(30)?;
        let comment_len = field(32)?;
        let local =
            u32_at(zip, at + 42).ok_or_else(|| malformed("short central directory entry"))?;
        let name = zip
            .get(at + 46..at + 46 + name_len)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok_or_else(|| malformed("an entry name runs past the end"))?;
        at += 46 + name_len + extra_len + comment_len;
        if name.ends_with('/') {
            continue;
        }
        if !zip
            .get(local..)
            .is_some_and(|r| r.starts_with(b"PK\x03\x04"))
        {
            return Err(malformed(&format!("the local header of {name} is missing")));
        }
        let local_name = u16_at(zip, local + 26).ok_or_else(|| malformed("short local header"))?;
        let local_extra = u16_at(zip, local + 28).ok_or_else(|| malformed("short local header"))?;
        let start = local + 30 + local_name + local_extra;
        let data = zip
            .get(start..start.saturating_add(compressed))
            .ok_or_else(|| malformed(&format!("the data of {name} runs past the end")))?;
        let content = match method {
            0 => data.to_vec(),
            8 => {
                let mut out = Vec::new();
                flate2::read::DeflateDecoder::new(data)
                    .take(max_bytes as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| malformed(&format!("{name}: {e}")))?;
                out
            }
            other => {
                return Err(err(
                    source,
                    &format!(
                        "zip entry {name} uses compression method {other}; expected stored (0) \
                         or deflate (8)"
                    ),
                ))
            }
        };
        files.push((name, content));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in entries {
            let mut header = [0u8; 512];
            header[..name.len()].copy_from_slice(name.as_bytes());
            let size = format!("{:011o}\0", data.len());
            header[124..136].copy_from_slice(size.as_bytes());
            header[156] = b'0';
            header[257..263].copy_from_slice(b"ustar\0");
            out.extend_from_slice(&header);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn zip_of(name: &str, data: &[u8]) -> Vec<u8> {
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        d.write_all(data).unwrap();
        let packed = d.finish().unwrap();
        let mut out = Vec::new();
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&[20, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&(packed.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&packed);
        let central = out.len();
        out.extend_from_slice(b"PK\x01\x02");
        out.extend_from_slice(&[20, 0, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&(packed.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        let size = out.len() - central;
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
        out.extend_from_slice(&(size as u32).to_le_bytes());
        out.extend_from_slice(&(central as u32).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn tar_gz_and_zip_yield_their_one_spec() {
        let tgz = gzip(&tar_of(&[("pipeline.yaml", b"a: 1\n")]));
        assert_eq!(package_kind(&tgz), Some(PackageKind::Gzip));
        let (name, data) = unpack("p.tar.gz", &tgz, PackageKind::Gzip, 1000).unwrap();
        assert_eq!(
            (name.as_str(), data.as_slice()),
            ("p.tar.gz!pipeline.yaml", &b"a: 1\n"[..])
        );
        let zip = zip_of("pipeline.yaml", b"b: 2\n");
        assert_eq!(package_kind(&zip), Some(PackageKind::Zip));
        let (_, data) = unpack("p.zip", &zip, PackageKind::Zip, 1000).unwrap();
        assert_eq!(data, b"b: 2\n");
    }

    #[test]
    fn packages_without_exactly_one_spec_are_refused() {
        let none = tar_of(&[("README.md", b"x")]);
        assert_eq!(package_kind(&none), Some(PackageKind::Tar));
        let mut text = vec![b'a'; 300];
        text[257..262].copy_from_slice(b"ustar");
        assert_eq!(package_kind(&text), None, "text is not a tar");
        let e = unpack("p.tar", &none, PackageKind::Tar, 1000).unwrap_err();
        assert!(e.to_string().contains("no pipeline file"), "{e}");
        let two = gzip(&tar_of(&[("a.yaml", b"x"), ("b.yaml", b"y")]));
        let e = unpack("p.tgz", &two, PackageKind::Gzip, 1000).unwrap_err();
        assert!(e.to_string().contains("a.yaml, b.yaml"), "{e}");
        let e = unpack("p.tgz", b"\x1f\x8bnot gzip", PackageKind::Gzip, 1000).unwrap_err();
        assert!(e.to_string().contains("gzip"), "{e}");
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let big = gzip(&tar_of(&[("p.yaml", &vec![b'a'; 4 << 20])]));
        let e = unpack("p.tgz", &big, PackageKind::Gzip, 1000).unwrap_err();
        assert!(e.to_string().contains("max_spec_bytes"), "{e}");
    }
}
