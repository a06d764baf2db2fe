//! `switchyard check-config`'s report: every caller's candidate list as the policy
//! will walk it, in words an operator reads. It owns the wording only; the lists
//! come from [`Routing`], so what is printed is what a call tries.

use crate::domain::{Caller, Candidate, Origin};
use crate::policy::{Routing, UnknownTask};

/// One line per caller: `caller: #0 provider/model (origin) -> #1 ...`.
///
/// An auxiliary task routed `auto` names that in its first candidate's origin, so
/// it cannot be mistaken for the main model that ends the list. A candidate that
/// repeats an earlier one (same provider, model and base URL) is marked as skipped,
/// as the run will skip it.
pub fn candidate_lines(routing: &Routing) -> Result<Vec<String>, UnknownTask> {
    let mut callers = vec![Caller::Primary];
    callers.extend(routing.task_names().into_iter().map(Caller::Aux));
    let mut lines = Vec::with_capacity(callers.len());
    for caller in callers {
        let list = routing.candidates(&caller, None)?;
        let names: Vec<String> = list
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut origin = origin_label(&caller, i, c);
                if let Some(first) = duplicate_of(&list, i) {
                    origin.push_str(&format!("; skipped: duplicate of #{first}"));
                }
                format!("#{i} {}/{} ({origin})", c.provider, c.model)
            })
            .collect();
        lines.push(format!("{caller}: {}", names.join(" -> ")));
    }
    Ok(lines)
}

fn origin_label(caller: &Caller, index: usize, c: &Candidate) -> String {
    match (caller, index, c.origin) {
        (Caller::Aux(_), 0, Origin::Main) => "task(auto → main provider)".to_owned(),
        (_, _, origin) => origin.to_string(),
    }
}

/// The index of the earlier candidate `list[index]` repeats, the rule the run uses.
fn duplicate_of(list: &[Candidate], index: usize) -> Option<usize> {
    let c = &list[index];
    list[..index]
        .iter()
        .position(|p| p.provider == c.provider && p.model == c.model && p.base_url == c.base_url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const YAML: &str = "
providers:
  main: {kind: openai, base_url: 'http://127.0.0.1:1/v1'}
  other: {kind: openai, base_url: 'http://127.0.0.1:2/v1'}
model: {provider: main, model: m}
auxiliary:
  vision: {provider: auto}
  title: {provider: other, model: o, fallback_chain: [{provider: main, model: m}]}
";

    fn line(task: &str) -> String {
        let routing = Config::from_yaml(YAML, "t", []).unwrap().routing();
        candidate_lines(&routing)
            .unwrap()
            .into_iter()
            .find(|l| l.starts_with(&format!("{task}:")))
            .unwrap()
    }

    #[test]
    fn an_auto_task_names_its_first_candidate_apart_from_the_main_model() {
        assert_eq!(
            line("aux:vision"),
            "aux:vision: #0 main/m (task(auto → main provider)) -> \
             #1 main/m (main; skipped: duplicate of #0)"
        );
    }

    #[test]
    fn a_repeated_candidate_is_marked_skipped() {
        assert_eq!(
            line("aux:title"),
            "aux:title: #0 other/o (task) -> #1 main/m (task_chain[0]) -> \
             #2 main/m (main; skipped: duplicate of #1)"
        );
    }

    #[test]
    fn the_primary_line_has_no_skip_when_nothing_repeats() {
        assert_eq!(line("primary"), "primary: #0 main/m (main)");
    }
}
