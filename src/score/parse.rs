//! Reading model answers: the numbers in free text (boxes, sizes, distances, angles) and the option letter of a
//! multiple-choice answer, the latter by VLMEvalKit's exact-matching rules (`can_infer`) so the two agree.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

fn number_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
            .expect("valid regex")
    })
}

/// Numbers written in `text`, in order, with their byte offsets. A number glued to a letter (`x1`, `y2`,
/// `T01`) is a name, not a value, and is skipped.
fn numbers(text: &str) -> Vec<(usize, f64)> {
    let mut out = Vec::new();
    for m in number_regex().find_iter(text) {
        let before = text[..m.start()].chars().next_back();
        if before.is_some_and(|c| c.is_alphabetic() || c == '_') {
            continue;
        }
        if let Ok(value) = m.as_str().parse::<f64>() {
            if value.is_finite() {
                out.push((m.start(), value));
            }
        }
    }
    out
}

/// The `count` numbers a free-text answer gives, or `None` when it does not give them.
///
/// The last bracketed group (`[...]` or `(...)`) holding exactly `count` numbers wins (`[x1, y1, x2, y2] =
/// [0.1, 0.2, 0.3, 0.4]` reads the second group); otherwise the last `count` numbers of the text, as
/// MedVision's `parser_last_k_nums` does.
pub fn answer_numbers(text: &str, count: usize) -> Option<Vec<f64>> {
    if count == 0 {
        return None;
    }
    let all = numbers(text);
    let mut best: Option<Vec<f64>> = None;
    let mut open: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match c {
            '[' | '(' => open = Some(i),
            ']' | ')' => {
                if let Some(start) = open.take() {
                    let inside: Vec<f64> = all
                        .iter()
                        .filter(|(at, _)| *at > start && *at < i)
                        .map(|(_, v)| *v)
                        .collect();
                    if inside.len() == count {
                        best = Some(inside);
                    }
                }
            }
            _ => {}
        }
    }
    best.or_else(|| {
        (all.len() >= count).then(|| all[all.len() - count..].iter().map(|(_, v)| *v).collect())
    })
}

/// The option letter a multiple-choice answer names, VLMEvalKit's way (`vlmeval/utils/matching_util.py`,
/// `can_infer`): punctuation `.()[],:;!*#{}` becomes space and the text splits on whitespace; exactly one
/// option letter among the words, standing among the last five, is the answer; otherwise (a lone `Z` word
/// excepted, VLMEvalKit's "none of them") exactly one option whose text, in lower case, occurs in the answer
/// in lower case. `None` when neither rule decides.
pub fn choice_letter(text: &str, options: &BTreeMap<char, String>) -> Option<char> {
    let cleaned: String = text
        .chars()
        .map(|c| if ".()[],:;!*#{}".contains(c) { ' ' } else { c })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let named: Vec<char> = options
        .keys()
        .copied()
        .filter(|letter| words.iter().any(|w| *w == letter.to_string()))
        .collect();
    if let [letter] = named[..] {
        let first = words
            .iter()
            .position(|w| *w == letter.to_string())
            .unwrap_or(0);
        if first + 5 > words.len() {
            return Some(letter);
        }
    } else if named.is_empty() && words.contains(&"Z") {
        // VLMEvalKit's "none of the options" answer: decided, and never right.
        return None;
    }
    let lower = text.to_lowercase();
    let matching: Vec<char> = options
        .iter()
        .filter(|(_, option)| !option.is_empty() && lower.contains(&option.to_lowercase()))
        .map(|(letter, _)| *letter)
        .collect();
    match matching[..] {
        [letter] => Some(letter),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(texts: &[&str]) -> BTreeMap<char, String> {
        ('A'..='E')
            .zip(texts)
            .map(|(l, t)| (l, t.to_string()))
            .collect()
    }

    #[test]
    fn numbers_skip_names_and_take_the_bracket_group() {
        assert_eq!(
            answer_numbers("[x1, y1, x2, y2] = [0.1, .2, 3e-1, 4]", 4),
            Some(vec![0.1, 0.2, 0.3, 4.0])
        );
        assert_eq!(
            answer_numbers("The area is 288.00 mm².", 1),
            Some(vec![288.0])
        );
        assert_eq!(answer_numbers("about -12 degrees", 1), Some(vec![-12.0]));
        assert_eq!(
            answer_numbers("[17.96, 15.28]", 2),
            Some(vec![17.96, 15.28])
        );
        assert_eq!(answer_numbers("I cannot tell.", 1), None);
        assert_eq!(answer_numbers("box (1, 2, 3)", 4), None);
    }

    #[test]
    fn letters_follow_vlmevalkit_rules() {
        let opts = options(&["12.00 mm", "15.50 mm", "kidney", "liver", "spleen"]);
        assert_eq!(choice_letter("B", &opts), Some('B'));
        assert_eq!(choice_letter("(C).", &opts), Some('C'));
        assert_eq!(choice_letter("The answer is D", &opts), Some('D'));
        // Two letters named and no option text: undecided; with one option's text, that option.
        assert_eq!(choice_letter("A or B", &opts), None);
        assert_eq!(choice_letter("A or B, the kidney", &opts), Some('C'));
        // A lone letter far from the end (more than four words after it) is not taken.
        assert_eq!(
            choice_letter("E is what some would say but not me", &opts),
            None
        );
        // No letter: one option's text inside the answer.
        assert_eq!(choice_letter("it is the Liver", &opts), Some('D'));
        assert_eq!(choice_letter("kidney or liver", &opts), None);
        assert_eq!(choice_letter("no idea", &opts), None);
    }
}
