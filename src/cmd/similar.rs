//! Which known names a name typed wrong is close to: a scenario file's
//! key (`windw` → `window`), ranked by edit distance, and offered only
//! when close. Pure: names in, names out.
//!
//! The rule is rustc's for its "a field with a similar name exists": a
//! name is close when at most a third of its characters must change
//! (optimal string alignment distance, so two letters swapped count
//! once), case and `-`/`_` aside; or, for a name of four characters or
//! more, when it is one whole `-`-separated word of a known name
//! (`timeout` → `connect-timeout`, `idle-timeout`). The closest by
//! distance come first; whole-word matches only when nothing is close by
//! distance. Nothing is offered for a name unlike every known one
//! (`targets` is not offered `stages`).

/// The known names close to `typed`, the closest first (ties in the
/// order given), at most three; empty when none is close.
pub fn closest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let t = normal(typed);
    let len = t.chars().count();
    let most = len.max(3) / 3;
    let mut near: Vec<(usize, &'a str)> = Vec::new();
    let mut words: Vec<&'a str> = Vec::new();
    for k in known {
        let n = normal(k);
        if n == t {
            continue;
        }
        let d = strsim::osa_distance(&t, &n);
        if d <= most && d < n.chars().count() {
            near.push((d, k));
        } else if len >= 4 && n.split('-').any(|w| w == t) {
            words.push(k);
        }
    }
    // Stable: ties keep the order given.
    near.sort_by_key(|(d, _)| *d);
    let mut out: Vec<&'a str> = match near.first() {
        Some(&(best, _)) => near
            .iter()
            .take_while(|(d, _)| *d == best)
            .map(|(_, k)| *k)
            .collect(),
        None => words,
    };
    out.dedup();
    out.truncate(3);
    out
}

/// `; the closest is 'window'`, `; the closest are 'ramp-up',
/// 'ramp-down'`, or nothing, for the end of an error.
pub fn suggestion(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => format!("; the closest is {one}"),
        many => format!("; the closest are {}", many.join(", ")),
    }
}

/// Lower case, `-` for `_`.
fn normal(name: &str) -> String {
    name.to_lowercase().replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &[&str] = &[
        "conns",
        "topology",
        "ports",
        "sources",
        "dests",
        "host-netns",
        "hold",
        "start-at",
        "rate",
        "window",
        "connect-timeout",
        "idle-timeout",
        "mode",
        "interval",
        "stages",
        "ramp-up",
        "ramp-down",
        "reconnect",
        "reconnect-delay",
        "fail-if",
    ];

    #[test]
    fn close_names_are_offered_the_closest_first() {
        for (typed, want) in [
            ("windw", &["window"][..]),
            ("WINDOW_", &["window"]),
            ("widnow", &["window"]),
            ("conn", &["conns"]),
            ("holds", &["hold"]),
            ("fail_iff", &["fail-if"]),
            ("reconect", &["reconnect"]),
            ("reconnect-dealy", &["reconnect-delay"]),
            ("intreval", &["interval"]),
            ("host_netn", &["host-netns"]),
            // A whole word of known names, when nothing is closer.
            ("timeout", &["connect-timeout", "idle-timeout"]),
            ("ramp", &["ramp-up", "ramp-down"]),
        ] {
            assert_eq!(closest(typed, RUN.iter().copied()), want, "{typed}");
        }
    }

    #[test]
    fn unlike_names_are_offered_nothing() {
        for typed in [
            "targets",
            "target",
            "listen",
            "max-unsent",
            "x",
            "ab",
            "speed",
            "up",
            "conns-per-second",
            "",
        ] {
            assert_eq!(
                closest(typed, RUN.iter().copied()),
                Vec::<&str>::new(),
                "{typed}"
            );
        }
    }

    #[test]
    fn suggestions_read_as_one_clause() {
        assert_eq!(suggestion(&[]), "");
        assert_eq!(suggestion(&["window"]), "; the closest is 'window'");
        assert_eq!(
            suggestion(&["ramp-up", "ramp-down"]),
            "; the closest are 'ramp-up', 'ramp-down'"
        );
    }
}
