//! The one glob dialect of vcgate: `*` (any run, including empty) and `?`
//! (one character), nothing else; case-sensitive.
//!
//! Globs match in time linear in the text (a bit-parallel automaton, no
//! backtracking), so an event with a 200 KB entity name costs one pass per
//! pattern; patterns are limited in length ([`check_glob`]), checked when the
//! config is loaded or reloaded.

/// Longest glob (in characters) a `[[route]]`, `[[subscription]]`,
/// `[guard] exclude` or `[[silence.inhibit]]` pattern may have.
pub const MAX_GLOB_CHARS: usize = 1024;

/// Refuses a glob longer than [`MAX_GLOB_CHARS`], naming the limit.
pub fn check_glob(pattern: &str) -> Result<(), String> {
    let n = pattern.chars().count();
    if n > MAX_GLOB_CHARS {
        return Err(format!(
            "glob of {n} characters: at most {MAX_GLOB_CHARS} characters are allowed"
        ));
    }
    Ok(())
}

/// Glob match with `*` (any run, including empty) and `?` (one character).
/// Time O(text × pattern / 64), i.e. linear in the text for a given pattern.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let Some(first) = pattern.find(['*', '?']) else {
        return pattern == text;
    };
    // The literal head and tail decide most globs (`vm.*`, `*Alarm`,
    // `alarm.Datastore*`) and rule out most misses, without building the
    // automaton: a route or subscription glob is tried on every event.
    let last = pattern.rfind(['*', '?']).expect("a wildcard was found");
    let (head, tail) = (&pattern[..first], &pattern[last + 1..]);
    if text.len() < head.len() + tail.len() || !text.starts_with(head) || !text.ends_with(tail) {
        return false;
    }
    if first == last && pattern.as_bytes()[first] == b'*' {
        return true;
    }
    Glob::new(pattern).matches(text)
}

/// A glob as a bit-parallel NFA (shift-and): state `i` means "the first `i`
/// pattern tokens matched". Runs of `*` are collapsed, so one step of
/// epsilon closure suffices.
struct Glob {
    words: usize,
    /// Positions holding `*`.
    star: Vec<u64>,
    /// Positions holding `?`.
    any: Vec<u64>,
    /// For each literal character, the positions holding it.
    literal: std::collections::HashMap<char, Vec<u64>>,
    /// The accepting state (number of tokens).
    accept: usize,
}

impl Glob {
    fn new(pattern: &str) -> Self {
        let mut tokens: Vec<char> = Vec::new();
        for c in pattern.chars() {
            if !(c == '*' && tokens.last() == Some(&'*')) {
                tokens.push(c);
            }
        }
        let words = tokens.len() / 64 + 1;
        let mut glob = Glob {
            words,
            star: vec![0; words],
            any: vec![0; words],
            literal: std::collections::HashMap::new(),
            accept: tokens.len(),
        };
        for (i, c) in tokens.iter().enumerate() {
            let (w, bit) = (i / 64, 1u64 << (i % 64));
            match c {
                '*' => glob.star[w] |= bit,
                '?' => glob.any[w] |= bit,
                c => glob.literal.entry(*c).or_insert_with(|| vec![0; words])[w] |= bit,
            }
        }
        glob
    }

    /// Adds the epsilon moves: an active `*` at `i` also activates `i + 1`.
    fn close(&self, state: &mut [u64]) {
        let mut carry = 0;
        for (w, word) in state.iter_mut().enumerate() {
            let stars = *word & self.star[w];
            *word |= (stars << 1) | carry;
            carry = stars >> 63;
        }
    }

    fn matches(&self, text: &str) -> bool {
        let mut state = vec![0u64; self.words];
        let mut next = vec![0u64; self.words];
        state[0] = 1;
        self.close(&mut state);
        for c in text.chars() {
            let literal = self.literal.get(&c);
            let mut carry = 0;
            for w in 0..self.words {
                let step = self.any[w] | literal.map_or(0, |l| l[w]);
                let advanced = state[w] & step;
                next[w] = (advanced << 1) | carry | (state[w] & self.star[w]);
                carry = advanced >> 63;
            }
            self.close(&mut next);
            std::mem::swap(&mut state, &mut next);
            if state.iter().all(|w| *w == 0) {
                return false;
            }
        }
        state[self.accept / 64] & (1 << (self.accept % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn globs() {
        assert!(glob_match("VM created*", "VM created (custom)"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("alarm.*Usage*", "alarm.VmMemoryUsageAlarm"));
        assert!(!glob_match("vm.*", "host.created"));
        assert!(glob_match("红*", "红色"));
    }

    /// The textbook dynamic program, as the reference model:
    /// `m[i][j]` = the first `i` pattern characters match the first `j` text characters.
    fn reference(p: &[char], t: &[char]) -> bool {
        let mut m = vec![vec![false; t.len() + 1]; p.len() + 1];
        m[0][0] = true;
        for i in 1..=p.len() {
            for j in 0..=t.len() {
                m[i][j] = match p[i - 1] {
                    '*' => m[i - 1][j] || (j > 0 && m[i][j - 1]),
                    '?' => j > 0 && m[i - 1][j - 1],
                    c => j > 0 && t[j - 1] == c && m[i - 1][j - 1],
                };
            }
        }
        m[p.len()][t.len()]
    }

    #[test]
    fn long_patterns_cross_word_boundaries() {
        let text = "a".repeat(200) + "b";
        assert!(glob_match(&format!("*{}b", "a".repeat(100)), &text));
        assert!(!glob_match(&format!("*{}c", "a".repeat(100)), &text));
        assert!(glob_match(&format!("{}*", "?".repeat(130)), &text));
        assert!(!glob_match(&"?".repeat(202), &text));
        assert!(glob_match(&"?".repeat(201), &text));
    }

    #[test]
    fn adversarial_input_is_one_pass() {
        // The backtracking matcher needed text × pattern steps here (13 s
        // with two such patterns in the pipeline); this is one pass.
        let text = "a".repeat(200_000);
        let pattern = format!("*{}b*", "a*".repeat(500));
        assert!(!glob_match(&pattern, &text));
        assert!(glob_match(&format!("*{}", "a*".repeat(500)), &text));
    }

    #[test]
    fn over_long_globs_are_refused_naming_the_limit() {
        assert!(check_glob(&"x".repeat(MAX_GLOB_CHARS)).is_ok());
        let err = check_glob(&"x".repeat(MAX_GLOB_CHARS + 1)).unwrap_err();
        assert!(err.contains("1024"), "{err}");
    }

    proptest! {
        #[test]
        fn the_literal_head_and_tail_shortcut_agrees_with_the_automaton(
            pattern in "[aé.]{0,3}[*?][aé.*?]{0,4}[aé.]{0,3}",
            text in "[aé.]{0,12}",
        ) {
            prop_assert_eq!(glob_match(&pattern, &text), Glob::new(&pattern).matches(&text));
        }

        #[test]
        fn matches_the_reference(pattern in "[ab*?]{0,14}", text in "[abc]{0,18}") {
            let p: Vec<char> = pattern.chars().collect();
            let t: Vec<char> = text.chars().collect();
            prop_assert_eq!(glob_match(&pattern, &text), reference(&p, &t), "{} vs {}", pattern, text);
        }

        #[test]
        fn matches_the_reference_across_words(prefix in "[ab]{60,70}", pattern in "[ab*?]{0,8}", text in "[ab]{55,80}") {
            let pattern = format!("{}{pattern}", prefix.replace('b', "?"));
            let p: Vec<char> = pattern.chars().collect();
            let t: Vec<char> = text.chars().collect();
            prop_assert_eq!(glob_match(&pattern, &text), reference(&p, &t));
        }

        #[test]
        fn star_matches_everything(text in "\\PC{0,40}") {
            prop_assert!(glob_match("*", &text));
            prop_assert!(glob_match(&text.replace(['*', '?'], ""), &text.replace(['*', '?'], "")));
        }
    }
}
