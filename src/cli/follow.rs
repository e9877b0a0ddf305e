//! `--follow` for `get events` and `get runs`: print the newest page, then
//! poll every second and print rows as they come — new ones, and rows whose
//! state changed (an event's route once decided, a run's status and attempt)
//! — until Ctrl-C. Rows go out oldest first, like `tail -f`.
//!
//! Each poll reads the newest `--limit` rows with the listing's own filters
//! and pages back with the `before` cursor while every row of a page is new
//! (at most `MAX_PAGES` pages; beyond that the oldest new rows are skipped,
//! with a note on stderr). Memory is bounded: [`Watch`] remembers the state
//! each of at most `REMEMBERED` recent rows was printed in, and forgets the
//! oldest; rows at or below the oldest forgotten one are never printed again.
//!
//! While the gateway is unreachable or answers 5xx/429 the poll is retried
//! (one warning on stderr per outage); any other refusal ends the command.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::args::OutputFormat;
use super::client::{Client, PathQuery, RequestError};
use super::output::{self, Table};
use crate::api::wire::{EventList, RunList};
use crate::store::{RunRecord, StoredEvent};

/// Time between polls.
const POLL: Duration = Duration::from_secs(1);
/// Pages read back in one poll at most.
const MAX_PAGES: usize = 10;
/// Rows whose printed state is remembered.
const REMEMBERED: usize = 10_000;
/// The gateway's largest page (`limit` is clamped to it).
const MAX_PAGE: usize = 1000;

/// A listing page (`GET /api/v1/events`, `/runs`).
pub trait Page: DeserializeOwned {
    type Row: Row;
    fn rows(&self) -> &[Self::Row];
    fn into_rows(self) -> Vec<Self::Row>;
}

/// A row that can be followed.
pub trait Row: Serialize {
    /// Insertion order: the listing's cursor, newest first.
    fn seq(&self) -> i64;
    /// What makes the row worth printing again when it changes.
    fn state(&self) -> String;
}

impl Page for EventList {
    type Row = StoredEvent;
    fn rows(&self) -> &[StoredEvent] {
        &self.events
    }
    fn into_rows(self) -> Vec<StoredEvent> {
        self.events
    }
}

impl Row for StoredEvent {
    fn seq(&self) -> i64 {
        self.seq
    }
    fn state(&self) -> String {
        super::events::route_label(self)
    }
}

impl Page for RunList {
    type Row = RunRecord;
    fn rows(&self) -> &[RunRecord] {
        &self.runs
    }
    fn into_rows(self) -> Vec<RunRecord> {
        self.runs
    }
}

impl Row for RunRecord {
    fn seq(&self) -> i64 {
        self.seq
    }
    fn state(&self) -> String {
        format!("{}/{}", self.status.as_str(), self.attempt)
    }
}

/// What has been printed (pure; see the module doc).
#[derive(Debug)]
pub struct Watch {
    /// seq → the state the row was printed in.
    printed: BTreeMap<i64, String>,
    /// Rows at or below this seq are not printed again (forgotten).
    floor: i64,
    remembered: usize,
}

impl Watch {
    pub fn new(remembered: usize) -> Self {
        Self {
            printed: BTreeMap::new(),
            floor: i64::MIN,
            remembered: remembered.max(1),
        }
    }

    /// Not printed in its current state yet.
    pub fn is_news<R: Row>(&self, row: &R) -> bool {
        row.seq() > self.floor && self.printed.get(&row.seq()) != Some(&row.state())
    }

    /// Of `rows` (any order), those to print now, oldest first; remembers them.
    pub fn select<R: Row>(&mut self, rows: Vec<R>) -> Vec<R> {
        let mut news: Vec<R> = rows.into_iter().filter(|r| self.is_news(r)).collect();
        news.sort_by_key(Row::seq);
        news.dedup_by_key(|r| r.seq());
        for row in &news {
            self.printed.insert(row.seq(), row.state());
        }
        while self.printed.len() > self.remembered {
            if let Some((seq, _)) = self.printed.pop_first() {
                self.floor = self.floor.max(seq);
            }
        }
        news
    }
}

/// A listing's table: its headers and a row's cells, normal or wide.
pub struct Columns<R> {
    pub headers: fn(bool) -> &'static [&'static str],
    pub row: fn(&R, bool) -> Vec<String>,
}

impl<R> Columns<R> {
    /// One page as a table.
    pub fn render(&self, rows: &[R], wide: bool) -> String {
        let cells: Vec<Vec<String>> = rows.iter().map(|r| (self.row)(r, wide)).collect();
        Table::new((self.headers)(wide)).render(&cells)
    }
}

/// `get events`, `get runs`: one page (older ones with `before`), or
/// followed until Ctrl-C.
pub async fn list<P: Page>(
    client: &Client,
    query: PathQuery,
    limit: usize,
    before: Option<i64>,
    follow: bool,
    format: OutputFormat,
    columns: Columns<P::Row>,
) -> anyhow::Result<()> {
    if follow {
        return run::<P>(client, query, limit, Printer::new(format, columns)).await;
    }
    let path = query.set("limit", limit).param("before", before).build();
    super::show(client, &path, format, |page: &P, wide| {
        columns.render(page.rows(), wide)
    })
    .await
}

/// How the rows of a followed listing are printed.
pub struct Printer<R> {
    format: OutputFormat,
    table: Table,
    row: fn(&R, bool) -> Vec<String>,
    headed: bool,
}

impl<R: Row> Printer<R> {
    pub fn new(format: OutputFormat, columns: Columns<R>) -> Self {
        Self {
            format,
            table: Table::new((columns.headers)(format == OutputFormat::Wide)),
            row: columns.row,
            headed: false,
        }
    }

    /// Text for `rows`: table lines (the header once), or one JSON line or
    /// YAML document per row.
    pub fn render(&mut self, rows: &[R]) -> anyhow::Result<String> {
        match self.format {
            OutputFormat::Json | OutputFormat::Yaml => {
                let mut out = String::new();
                for row in rows {
                    out.push_str(&output::document(self.format, row, true)?);
                }
                Ok(out)
            }
            OutputFormat::Table | OutputFormat::Wide => {
                let wide = self.format == OutputFormat::Wide;
                let cells: Vec<Vec<String>> = rows.iter().map(|r| (self.row)(r, wide)).collect();
                if self.headed {
                    Ok(self.table.render_rows(&cells))
                } else {
                    self.headed = true;
                    Ok(self.table.render(&cells))
                }
            }
        }
    }
}

/// Follows the listing `query` (filters set, no `limit`/`before`) until Ctrl-C.
pub async fn run<P: Page>(
    client: &Client,
    query: PathQuery,
    limit: usize,
    mut printer: Printer<P::Row>,
) -> anyhow::Result<()> {
    let limit = limit.clamp(1, MAX_PAGE);
    // One listener for the whole run, registered before the first request:
    // an interrupt arriving while rows are printed is kept for the next
    // `recv` (a listener made per wait would miss it, and with the default
    // action replaced the interrupt would be lost).
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut watch = Watch::new(REMEMBERED.max(limit * MAX_PAGES));
    let first = tokio::select! {
        _ = interrupt.recv() => return Ok(()),
        first = fetch::<P>(client, &query, limit, None) => first?,
    };
    let rows = watch.select(first);
    output::print(&printer.render(&rows)?)?;
    let mut outage = false;
    loop {
        tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            _ = tokio::time::sleep(POLL) => {}
        }
        let polled = tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            polled = poll::<P>(client, &query, limit, &watch) => polled,
        };
        match polled {
            Ok(rows) => {
                if outage {
                    eprintln!("vcgate: gateway answering again");
                    outage = false;
                }
                let rows = watch.select(rows);
                output::print(&printer.render(&rows)?)?;
            }
            Err(e) if e.is_transient() => {
                if !outage {
                    eprintln!("vcgate: {e}; still trying");
                    outage = true;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The newest rows, paging back while every row of a page is news.
async fn poll<P: Page>(
    client: &Client,
    query: &PathQuery,
    limit: usize,
    watch: &Watch,
) -> Result<Vec<P::Row>, RequestError> {
    let mut rows = Vec::new();
    let mut before = None;
    for page in 0..MAX_PAGES {
        let batch = fetch::<P>(client, query, limit, before).await?;
        let full = batch.len() >= limit;
        let all_news = batch.iter().all(|r| watch.is_news(r));
        before = batch.iter().map(Row::seq).min();
        rows.extend(batch);
        if !full || !all_news || before.is_none() {
            break;
        }
        if page + 1 == MAX_PAGES {
            eprintln!(
                "vcgate: more than {} new rows since the last poll; older ones skipped",
                rows.len()
            );
        }
    }
    Ok(rows)
}

async fn fetch<P: Page>(
    client: &Client,
    query: &PathQuery,
    limit: usize,
    before: Option<i64>,
) -> Result<Vec<P::Row>, RequestError> {
    let mut query = query.clone().set("limit", limit);
    if let Some(before) = before {
        query = query.set("before", before);
    }
    let page: P = client.get_as(&query.build()).await?;
    Ok(page.into_rows())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize)]
    struct R(i64, &'static str);

    impl Row for R {
        fn seq(&self) -> i64 {
            self.0
        }
        fn state(&self) -> String {
            self.1.to_owned()
        }
    }

    #[test]
    fn new_rows_and_changed_rows_print_once_oldest_first() {
        let mut w = Watch::new(100);
        assert_eq!(
            w.select(vec![R(3, "a"), R(2, "a")]),
            vec![R(2, "a"), R(3, "a")]
        );
        assert!(w.select(vec![R(3, "a"), R(2, "a")]).is_empty());
        assert_eq!(
            w.select(vec![R(5, "a"), R(4, "b"), R(3, "b"), R(2, "a")]),
            vec![R(3, "b"), R(4, "b"), R(5, "a")]
        );
        assert!(
            w.is_news(&R(1, "a")),
            "an older row entering the page is news"
        );
        assert!(!w.is_news(&R(5, "a")));
    }

    #[test]
    fn memory_is_bounded_and_forgotten_rows_stay_quiet() {
        let mut w = Watch::new(3);
        let printed = w.select((1..=10).map(|s| R(s, "a")).collect());
        assert_eq!(printed.len(), 10);
        assert_eq!(w.printed.len(), 3);
        assert!(
            !w.is_news(&R(7, "changed")),
            "forgotten: at or below the floor"
        );
        assert!(w.is_news(&R(9, "changed")));
        assert!(w.is_news(&R(11, "a")));
    }

    #[test]
    fn the_header_is_printed_once() {
        let columns = || Columns {
            headers: |_| &["SEQ", "STATE"],
            row: |r: &R, _| vec![r.0.to_string(), r.1.to_owned()],
        };
        let mut p = Printer::new(OutputFormat::Table, columns());
        assert_eq!(p.render(&[R(1, "a")]).unwrap(), "SEQ  STATE\n1    a\n");
        assert_eq!(p.render(&[R(2, "b")]).unwrap(), "2    b\n");
        let mut p = Printer::new(OutputFormat::Json, columns());
        assert_eq!(
            p.render(&[R(1, "a"), R(2, "b")]).unwrap(),
            "[1,\"a\"]\n[2,\"b\"]\n"
        );
    }
}
