//! List filters: the ones the backend sets (a datacenter, a VM id, a
//! host), and the one the user wrote (`filter`, a raw query string as
//! fence-agents' fence_vmware_rest takes it), both written in whichever
//! dialect the server speaks.
//!
//! fence-agents documents `filter` with /rest's spelling
//! (`filter.names=node1&filter.names=node2`, fence_vmware_rest's help; the
//! REST 6.5 docs also allow the indexed `filter.names.1=node1`); /api
//! spells the same fields without the prefix, repeated or separated by
//! commas (API docs, List Vm: `names=node1,node2`). A filter written for
//! either works with both: each value is read in the spelling it was
//! written in and written out in the server's.

use std::collections::BTreeSet;

use crate::dialect::Dialect;

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes percent-encoding; a `%` not followed by two hex digits stays as
/// it is. `+` is kept: fence-agents sent the text as it was written.
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8 text"))
}

/// Filter fields and their values, in no dialect yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pairs: Vec<(String, String)>,
}

impl Filters {
    pub fn new() -> Filters {
        Filters::default()
    }

    /// `field` must equal `value` (or, given again, one of the values).
    pub fn with(mut self, field: &str, value: &str) -> Filters {
        self.add(field, value);
        self
    }

    pub fn add(&mut self, field: &str, value: &str) {
        let pair = (field.to_string(), value.to_string());
        if !self.pairs.contains(&pair) {
            self.pairs.push(pair);
        }
    }

    /// Every condition of `other` added.
    pub fn and(mut self, other: &Filters) -> Filters {
        for (f, v) in &other.pairs {
            self.add(f, v);
        }
        self
    }

    /// The fields constrained: a split of a capped list must not add
    /// values to one of them (repeated values are alternatives, so the
    /// split would widen the user's filter instead of narrowing it).
    pub fn fields(&self) -> BTreeSet<&str> {
        self.pairs.iter().map(|(f, _)| f.as_str()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The query string in `dialect`'s spelling, each value encoded, one
    /// key per value (both dialects accept repeated keys).
    pub fn query(&self, dialect: Dialect) -> Vec<(String, String)> {
        self.pairs
            .iter()
            .map(|(f, v)| (dialect.filter_key(f), v.clone()))
            .collect()
    }

    /// The user's `filter` option. A key with the `filter.` prefix is
    /// /rest's spelling: its value is one value, commas included; an
    /// indexed key (`filter.names.2`) is the same field. A key without it
    /// is /api's: commas separate values (a comma in a name is `%2C`).
    pub fn parse_user(text: &str) -> Result<Filters, String> {
        let mut filters = Filters::new();
        for pair in text.trim().split('&').filter(|p| !p.is_empty()) {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(raw_key)?;
            let (field, rest_form) = match key.strip_prefix("filter.") {
                Some(f) => (strip_index(f), true),
                None => (key.as_str(), false),
            };
            let valid = !field.is_empty()
                && field
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid {
                return Err(format!(
                    "{raw_key:?} is not a filter field (names, vms, folders, datacenters, hosts, \
                     clusters, resource_pools, power_states; with or without filter.)"
                ));
            }
            let values = if rest_form {
                vec![decode(raw_value)?]
            } else {
                raw_value
                    .split(',')
                    .map(decode)
                    .collect::<Result<Vec<_>, _>>()?
            };
            for v in values {
                filters.add(field, &v);
            }
        }
        Ok(filters)
    }
}

/// `names.2` is `names`: /rest's indexed form of a repeated field.
fn strip_index(field: &str) -> &str {
    match field.rsplit_once('.') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => field,
    }
}

/// `?k=v&k2=v2`, encoded; empty without pairs.
pub fn query_string(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(&encode(k));
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(text: &str) -> (String, String) {
        let f = Filters::parse_user(text).unwrap();
        (
            query_string(&f.query(Dialect::Rest)),
            query_string(&f.query(Dialect::Api)),
        )
    }

    #[test]
    fn a_rest_filter_works_on_api_and_the_other_way_round() {
        let want = (
            "?filter.names=node1&filter.names=node2".to_string(),
            "?names=node1&names=node2".to_string(),
        );
        assert_eq!(both("filter.names=node1&filter.names=node2"), want);
        assert_eq!(both("filter.names.1=node1&filter.names.2=node2"), want);
        assert_eq!(both("names=node1,node2"), want);
        assert_eq!(both("names=node1&names=node2"), want);
        assert_eq!(
            both("filter.folders=group-v3&filter.power_states=POWERED_ON"),
            (
                "?filter.folders=group-v3&filter.power_states=POWERED_ON".into(),
                "?folders=group-v3&power_states=POWERED_ON".into()
            )
        );
    }

    #[test]
    fn commas_and_escapes_keep_their_meaning() {
        // /rest: a comma is part of the name; /api: %2C is.
        assert_eq!(
            both("filter.names=a,b").1,
            "?names=a%2Cb",
            "one name with a comma"
        );
        assert_eq!(
            both("names=a%2Cb,c").0,
            "?filter.names=a%2Cb&filter.names=c"
        );
        // Names as written or encoded, spaces and slashes included.
        assert_eq!(
            both("filter.names=web server 01").1,
            "?names=web%20server%2001"
        );
        assert_eq!(both("filter.names=web%2f01").1, "?names=web%2F01");
        assert_eq!(both("filter.names=a+b").1, "?names=a%2Bb");
        assert_eq!(both("filter.names=50%").1, "?names=50%25");
        assert_eq!(both("&&filter.names=x&").1, "?names=x");
        assert_eq!(both("").1, "");
    }

    #[test]
    fn what_is_not_a_filter_field_is_refused() {
        for bad in ["=x", "filter.=x", "filter.Names=x", "na mes=x", "a&b;c=1"] {
            assert!(Filters::parse_user(bad).is_err(), "{bad}");
        }
        assert!(Filters::parse_user("filter.names=%ff").is_err());
    }

    #[test]
    fn fields_and_merging() {
        let user = Filters::parse_user("filter.folders=f1&names=a,b").unwrap();
        assert_eq!(user.fields(), BTreeSet::from(["folders", "names"]));
        let f = Filters::new().with("datacenters", "dc-1").and(&user);
        assert_eq!(
            query_string(&f.query(Dialect::Api)),
            "?datacenters=dc-1&folders=f1&names=a&names=b"
        );
        assert!(Filters::new().is_empty());
    }
}
