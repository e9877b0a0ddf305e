//! `vcgate reload`: re-read routes, functions, subscriptions and secrets
//! (`POST /api/v1/reload`, admin token); like SIGHUP, from anywhere.

use std::process::ExitCode;

use reqwest::Method;

use super::args::{ClientArgs, OutputFormat};
use super::client::{Client, Scope};
use super::output;
use crate::api::wire::ReloadSummary;

pub async fn reload(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(args, Scope::Admin)?;
    let done = async {
        let path = "/api/v1/reload";
        let body = client.send::<()>(Method::POST, path, None).await?;
        let summary: ReloadSummary = client.decode(path, &body)?;
        let text = match args.format() {
            OutputFormat::Json | OutputFormat::Yaml => {
                output::document(args.format(), &summary, false)?
            }
            _ => render(&summary),
        };
        output::print(&text)?;
        Ok(())
    };
    super::finish(done.await)
}

fn render(s: &ReloadSummary) -> String {
    format!(
        "reloaded (generation {}): {} routes, {} functions, {} subscriptions, {} secret sets\n",
        s.generation, s.routes, s.functions, s.subscriptions, s.secret_sets
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_summary() {
        let s = ReloadSummary {
            generation: 2,
            routes: 1,
            functions: 2,
            subscriptions: 3,
            secret_sets: 0,
        };
        assert_eq!(
            render(&s),
            "reloaded (generation 2): 1 routes, 2 functions, 3 subscriptions, 0 secret sets\n"
        );
    }
}
