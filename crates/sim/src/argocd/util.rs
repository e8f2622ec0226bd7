//! Time formats, deterministic ids and JSON helpers.

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// Seconds since the Unix epoch, wall clock.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `2024-01-13T05:24:11Z`, the form of Kubernetes' `metav1.Time`.
pub(crate) fn rfc3339(epoch: u64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `Sun, 14 Jan 2024 05:24:16 GMT`, the form of HTTP's `Date` and cookies' `Expires`.
pub(crate) fn http_date(epoch: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // rfc3339 is `YYYY-MM-DDTHH:MM:SSZ`.
    let iso = rfc3339(epoch);
    let part = |from: usize, to: usize| iso.get(from..to).unwrap_or("00");
    let month = part(5, 7)
        .parse::<usize>()
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("Jan");
    let weekday = DAYS[usize::try_from((epoch / 86_400) % 7).unwrap_or(0)];
    format!(
        "{weekday}, {} {month} {} {} GMT",
        part(8, 10),
        part(0, 4),
        part(11, 19)
    )
}

/// Hex SHA-256 of `seed`.
pub(crate) fn hex_digest(seed: &str) -> String {
    hex::encode(Sha256::digest(seed.as_bytes()))
}

/// A version-4-shaped UUID derived from `seed`, so the same object keeps its uid.
pub(crate) fn uid(seed: &str) -> String {
    let h = hex_digest(seed);
    let variant = ['8', '9', 'a', 'b'][usize::from(h.as_bytes()[16] % 4)];
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// `len` characters of Kubernetes' name-suffix alphabet (no vowels), derived from `seed`:
/// pod-template hashes and pod name suffixes.
pub(crate) fn k8s_suffix(seed: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    Sha256::digest(seed.as_bytes())
        .iter()
        .cycle()
        .take(len)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// A fresh random id of `len` hex digits (Cloudflare ray ids, session cookies).
pub(crate) fn random_hex(len: usize) -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_formatted_as_kubernetes_and_http_write_them() {
        // 2024-01-14T05:24:16Z was a Sunday.
        assert_eq!(rfc3339(1_705_209_856), "2024-01-14T05:24:16Z");
        assert_eq!(http_date(1_705_209_856), "Sun, 14 Jan 2024 05:24:16 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn ids_are_stable_and_well_formed() {
        let u = uid("x");
        assert_eq!(u, uid("x"));
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
        assert_ne!(uid("x"), uid("y"));
        let s = k8s_suffix("rs", 10);
        assert_eq!(s.len(), 10);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        assert_eq!(random_hex(16).len(), 16);
    }
}
