//! The event query planner behind `GET /api/v1/events`: turns an
//! [`EventQuery`] into index walks whose cost does not grow with the store.
//!
//! Owns: choosing and running the SQL of a listing and its cursor. Must not:
//! add an index: every index on `events` costs the ingest path (see the
//! migrations in `schema.rs` for what was measured and dropped).

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params};

use super::events::{RawEvent, SELECT_EVENT, row_to_raw};
use super::ms;
use crate::config::RouteTarget;
use crate::store::EventQuery;

/// How many index entries `list_events` reads to size a filter up front: the
/// `since` bound (`events_received`).
/// At least `MAX_LIMIT` (1000) of the API, so a first page never needs the
/// second `since` pass.
const PROBE: i64 = 4096;

/// How many seqs a listing with a scanning filter (vCenter, entity, alarm,
/// status, route, held, duplicate: no index serves them) examines per call.
/// Such a filter is evaluated row by row (`json_extract` on the stored
/// JSON), so a rare one walked the whole table (seconds at 1M events);
/// bounded, a call costs at most this many rows whatever the store holds
/// and returns a cursor to go on.
const SCAN_WINDOW: i64 = 20_000;

/// How much one listing may read (tests shrink it to force every path).
pub(super) struct Budget {
    pub probe: i64,
    pub window: i64,
}

impl Budget {
    pub const DEFAULT: Self = Self {
        probe: PROBE,
        window: SCAN_WINDOW,
    };
}

/// `GET /api/v1/events`: events matching `query`, newest (highest seq) first,
/// at most `query.limit`, and the cursor to the next page. Each filter costs
/// about log n + limit (glob types: times the distinct types its literal
/// prefix admits), not the store size:
///
/// - Every answer is one or more runs of the same ordered shape
///   (`list_range`): `[type = ?] [source = ?] [+received_ms >= ?] [scan
///   terms] [seq >= lo] [seq < hi] ORDER BY seq DESC LIMIT ?`, which SQLite
///   answers by walking an index already in seq order (`events_type_seq` or
///   the rowid) and stopping after `limit` rows, with no sort.
/// - A type glob becomes the exact types it matches (`matching_types`), one
///   run each, merged by seq in Rust: `type GLOB ?` used the index only as a
///   range and sorted every matching row (4.3 s at 1M events).
/// - `source` has no index of its own (see migration 7): with a type, each
///   type's run walks the type and checks the source; alone, the run walks
///   the rowids newest first and checks it, which is quick for a common
///   source and reads the whole table for one that is rare or absent.
/// - `since` adds `seq >= lo`, a lower bound on the seq of any row received
///   since then. Without it, when few rows match, SQLite walked the rowids
///   down to the oldest (0.9 s at 1M). `received_ms` is only nearly
///   monotonic in seq, so the row filter stays and `lo` must be a true
///   bound; see `since_bound`.
/// - The scanning filters are row checks too, but the walk they join is cut
///   to a window of `budget.window` seqs below the cursor: a page may come
///   back short, with `next_before` at the window's floor.
pub(super) fn list_events(
    conn: &Connection,
    query: &EventQuery,
    budget: &Budget,
) -> Result<(Vec<RawEvent>, Option<i64>), rusqlite::Error> {
    let limit = query.limit.max(1);
    let types = match &query.event_type {
        None => vec![None],
        Some(t) if is_glob(t) => matching_types(conn, t)?.into_iter().map(Some).collect(),
        Some(t) => vec![Some(t.clone())],
    };
    if types.is_empty() {
        return Ok((Vec::new(), None));
    }
    // The scan window's floor: seqs below it are left to the next call.
    let floor = match query.scans() {
        false => None,
        true => {
            let top = match query.before_seq {
                Some(b) => b,
                None => match max_seq(conn)? {
                    Some(max) => max + 1,
                    None => return Ok((Vec::new(), None)),
                },
            };
            Some(top - budget.window)
        }
    };
    let since_ms = query.since.map(ms);
    let filter = RangeFilter {
        types: &types,
        source: query.source.as_deref(),
        since_ms,
        scan: ScanTerms::of(query),
    };
    let clamp = |lo: Option<i64>| lo.max(floor);
    let (rows, bottom) = match since_ms {
        None => (
            list_range(conn, &filter, clamp(None), query.before_seq, limit)?,
            None,
        ),
        Some(since_ms) => match since_bound(conn, since_ms, budget.probe)? {
            SinceBound::Nothing => return Ok((Vec::new(), None)),
            SinceBound::Exact(lo) => (
                list_range(conn, &filter, clamp(Some(lo)), query.before_seq, limit)?,
                Some(lo),
            ),
            SinceBound::Probed(probed) => (
                list_probed(conn, &filter, since_ms, probed, query, floor, budget.probe)?,
                None,
            ),
        },
    };
    let next = if rows.len() == limit {
        rows.last().map(|r| r.seq)
    } else {
        // A short page is the end, unless the window cut the walk short of
        // rows that may match (below the floor, and above any exact `since`
        // bound).
        match floor {
            Some(floor) if bottom.is_none_or(|lo| lo < floor) => min_seq(conn)?
                .filter(|oldest| *oldest < floor)
                .map(|_| floor),
            _ => None,
        }
    };
    Ok((rows, next))
}

/// The `since` listing when the probe did not reach the oldest match.
fn list_probed(
    conn: &Connection,
    filter: &RangeFilter<'_>,
    since_ms: i64,
    probed: i64,
    query: &EventQuery,
    floor: Option<i64>,
    probe: i64,
) -> Result<Vec<RawEvent>, rusqlite::Error> {
    let limit = query.limit.max(1);
    // Rows at or above `probed` first: if they fill the page, any
    // row below `probed` is older than all of them and not needed.
    let mut out = list_range(
        conn,
        filter,
        Some(probed).max(floor),
        query.before_seq,
        limit,
    )?;
    let hi = query.before_seq.map_or(probed, |b| b.min(probed));
    if out.len() >= limit || floor.is_some_and(|f| hi <= f) {
        return Ok(out);
    }
    // The page ran out: look below `probed` too. From the oldest
    // row when at most `probe` rows are left below; else from the
    // exact bound, which reads every matching `events_received`
    // entry once (the last page of a long `since` listing, or a
    // since matching much combined with a rarer filter).
    let lo = match min_seq(conn)? {
        Some(oldest) if hi - oldest <= probe => Some(oldest),
        _ => conn.query_row(SINCE_BELOW_SQL, params![since_ms, hi], |r| r.get(0))?,
    };
    if let Some(lo) = lo {
        out.extend(list_range(
            conn,
            filter,
            Some(lo).max(floor),
            Some(hi),
            limit - out.len(),
        )?);
    }
    Ok(out)
}

fn max_seq(conn: &Connection) -> Result<Option<i64>, rusqlite::Error> {
    conn.query_row("SELECT max(seq) FROM events", [], |r| r.get(0))
}

fn min_seq(conn: &Connection) -> Result<Option<i64>, rusqlite::Error> {
    conn.query_row("SELECT min(seq) FROM events", [], |r| r.get(0))
}

/// True when `pattern` has a wildcard of the routes' dialect.
fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

/// A routes-dialect glob (`*`, `?`, all else literal) as an SQLite `GLOB`
/// pattern: `[` and `]` start character classes there, so each is written
/// as the class holding only itself. Both match case-sensitively and `?`
/// takes one character (not byte) in both.
fn sqlite_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '[' => out.push_str("[[]"),
            ']' => out.push_str("[]]"),
            c => out.push(c),
        }
    }
    out
}

/// The smallest seq among at most ?2 rows with `received_ms >= ?1` (the
/// first by received_ms), and how many there were.
pub(super) const SINCE_PROBE_SQL: &str = "SELECT min(seq), count(*) FROM \
     (SELECT seq FROM events WHERE received_ms >= ?1 ORDER BY received_ms LIMIT ?2)";
/// The smallest seq below ?2 with `received_ms >= ?1`: reads every index
/// entry from ?1 up (`INDEXED BY`: planned on the rowid, `min(seq)` would
/// walk the table from its oldest row).
const SINCE_BELOW_SQL: &str = "SELECT min(seq) FROM events INDEXED BY events_received \
     WHERE received_ms >= ?1 AND seq < ?2";

/// A lower bound on the seq of the rows with `received_ms >= since_ms`.
enum SinceBound {
    /// No row matches.
    Nothing,
    /// The smallest such seq.
    Exact(i64),
    /// More than the probe matched: the smallest seq among the first
    /// `SINCE_PROBE` of them by `received_ms`. Rows below it may match too
    /// (received later but stored earlier), but they are older than
    /// every row at or above it.
    Probed(i64),
}

/// Reads at most `probe` entries of `events_received` from `since_ms` up.
/// The exact `min(seq) ... WHERE received_ms >= ?` costs one index entry per
/// matching row (50 ms at 1M when everything matches) or, planned on the
/// rowid, one table row per older row (0.3 s at 1M when nothing matches);
/// this costs at most `probe` index entries whatever the store holds.
fn since_bound(
    conn: &Connection,
    since_ms: i64,
    probe: i64,
) -> Result<SinceBound, rusqlite::Error> {
    let (min, count): (Option<i64>, i64) =
        conn.query_row(SINCE_PROBE_SQL, params![since_ms, probe], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(match min {
        None => SinceBound::Nothing,
        Some(seq) if count < probe => SinceBound::Exact(seq),
        Some(seq) => SinceBound::Probed(seq),
    })
}

const MATCHING_TYPES_SQL: &str = "WITH RECURSIVE t(type) AS ( \
         SELECT min(type) FROM events WHERE type >= ?1 \
         UNION ALL \
         SELECT (SELECT min(type) FROM events WHERE type > t.type) FROM t \
         WHERE substr(t.type, 1, length(?1)) = ?1 \
     ) \
     SELECT type FROM t WHERE type GLOB ?2";

/// The distinct stored types matching `glob` (the routes' dialect), in order.
///
/// A loose index scan over `events_type_seq`: each step is one `min(type)`
/// look-up for the next distinct type, so the cost is distinct types times
/// log n, not rows. It starts at the glob's literal prefix (the text before
/// its first `*` or `?`) and stops at the first type past it: types
/// sharing a prefix are contiguous in the index (BINARY collation).
fn matching_types(conn: &Connection, glob: &str) -> Result<Vec<String>, rusqlite::Error> {
    let prefix = &glob[..glob.find(['*', '?']).unwrap_or(glob.len())];
    let mut stmt = conn.prepare_cached(MATCHING_TYPES_SQL)?;
    let types = stmt.query_map(params![prefix, sqlite_glob(glob)], |r| r.get(0))?;
    types.collect()
}

/// The scanning filters of a query as SQL row terms (each `AND …`) and
/// their parameters, cheapest first: a column, then the small disposition
/// JSON, then the event body.
#[derive(Default)]
struct ScanTerms {
    sql: String,
    args: Vec<SqlValue>,
}

impl ScanTerms {
    fn of(q: &EventQuery) -> Self {
        let mut terms = Self::default();
        if let Some(p) = &q.vcenter {
            terms.glob("vcenter", p);
        }
        if let Some(route) = q.route {
            terms
                .sql
                .push_str(" AND json_extract(disposition, '$.route') = ?");
            terms.args.push(route_name(route).to_owned().into());
        }
        let presence = |field: &str, present: bool| {
            format!(
                " AND json_extract(disposition, '$.{field}') IS {}NULL",
                if present { "NOT " } else { "" }
            )
        };
        if let Some(held) = q.held {
            terms.sql.push_str(&presence("held_by", held));
        }
        if let Some(duplicate) = q.duplicate {
            terms.sql.push_str(&presence("duplicate_of", duplicate));
        }
        if let Some(p) = &q.entity {
            terms.glob("json_extract(body, '$.entity.name')", p);
        }
        if let Some(p) = &q.alarm {
            terms.glob("json_extract(body, '$.alarm.name')", p);
        }
        if let Some(p) = &q.status {
            // The status rule of `crate::filter::status_matches`: the colour
            // (pattern lowercased; `unknown` is no colour) or the raw text.
            terms.sql.push_str(
                " AND ((json_extract(body, '$.alarm.new_status.status') GLOB ? \
                 AND json_extract(body, '$.alarm.new_status.status') != 'unknown') \
                 OR json_extract(body, '$.alarm.new_status.raw') GLOB ?)",
            );
            terms.args.push(sqlite_glob(&p.to_ascii_lowercase()).into());
            terms.args.push(sqlite_glob(p).into());
        }
        terms
    }

    /// `expr` matches the routes-dialect glob `pattern` (`=` without a wildcard).
    fn glob(&mut self, expr: &str, pattern: &str) {
        if is_glob(pattern) {
            self.sql.push_str(&format!(" AND {expr} GLOB ?"));
            self.args.push(sqlite_glob(pattern).into());
        } else {
            self.sql.push_str(&format!(" AND {expr} = ?"));
            self.args.push(pattern.to_owned().into());
        }
    }
}

/// How a route decision is written in a stored disposition.
fn route_name(route: RouteTarget) -> &'static str {
    match route {
        RouteTarget::Automation => "automation",
        RouteTarget::Monitoring => "monitoring",
        RouteTarget::Both => "both",
        RouteTarget::Drop => "drop",
    }
}

/// Filters of one `list_range`: each of `types` is one exact-type run
/// (`None`: no type filter).
struct RangeFilter<'a> {
    types: &'a [Option<String>],
    source: Option<&'a str>,
    since_ms: Option<i64>,
    scan: ScanTerms,
}

/// The one query shape of `list_range`; parameters in this order: type,
/// source, since (ms), the scan terms', lo, hi, limit (each only when
/// present). `typed`: an exact type, walked on `events_type_seq`; otherwise
/// the rowid is walked.
fn range_sql(typed: bool, source: bool, since: bool, scan: &str, lo: bool, hi: bool) -> String {
    let mut sql = format!("{SELECT_EVENT} WHERE 1=1");
    for (on, term) in [
        (typed, " AND type = ?"),
        (source, " AND source = ?"),
        (since, " AND +received_ms >= ?"),
        (true, scan),
        (lo, " AND seq >= ?"),
        (hi, " AND seq < ?"),
    ] {
        if on {
            sql.push_str(term);
        }
    }
    sql.push_str(" ORDER BY seq DESC LIMIT ?");
    sql
}

/// Rows matching `filter` with `lo <= seq < hi`, newest first, at most
/// `limit`: one ordered query per type, merged lazily (a k-way merge on seq;
/// the types are disjoint, so seqs never tie).
///
/// Shape: `[type = ?] [source = ?] [+received_ms >= ?] [scan terms] [seq >= ?]
/// [seq < ?] ORDER BY seq DESC LIMIT ?`. The equality plus the seq range is
/// a range of `events_type_seq` (or of the rowid) already in seq
/// order, so SQLite stops after `limit` rows. `since` is served by the seq
/// bound; the unary `+` on received_ms is insurance that SQLite never plans
/// on `events_received` instead (a range on received_ms, then a sort of all
/// of it): it does not today, without statistics (`ANALYZE` could change that).
fn list_range(
    conn: &Connection,
    filter: &RangeFilter<'_>,
    lo: Option<i64>,
    hi: Option<i64>,
    limit: usize,
) -> Result<Vec<RawEvent>, rusqlite::Error> {
    if let (Some(lo), Some(hi)) = (lo, hi)
        && lo >= hi
    {
        return Ok(Vec::new());
    }
    let mut shared: Vec<SqlValue> = Vec::new();
    if let Some(s) = filter.source {
        shared.push(s.to_owned().into());
    }
    if let Some(ms) = filter.since_ms {
        shared.push(ms.into());
    }
    shared.extend(filter.scan.args.iter().cloned());
    shared.extend(lo.map(Into::into));
    shared.extend(hi.map(Into::into));
    shared.push((limit as i64).into());
    let shape = |typed| {
        range_sql(
            typed,
            filter.source.is_some(),
            filter.since_ms.is_some(),
            &filter.scan.sql,
            lo.is_some(),
            hi.is_some(),
        )
    };
    let (sql, typed_sql) = (shape(false), shape(true));

    let mut stmts = Vec::with_capacity(filter.types.len());
    for t in filter.types {
        stmts.push(conn.prepare_cached(if t.is_some() { &typed_sql } else { &sql })?);
    }
    let mut runs = Vec::with_capacity(stmts.len());
    for (stmt, t) in stmts.iter_mut().zip(filter.types) {
        let args = t
            .as_deref()
            .map(|t| t.to_owned().into())
            .into_iter()
            .chain(shared.iter().cloned());
        runs.push(stmt.query(rusqlite::params_from_iter(args))?);
    }
    // The head row of each run, and a max-heap of (head seq, run).
    let mut heads: Vec<Option<RawEvent>> = Vec::with_capacity(runs.len());
    let mut heap = std::collections::BinaryHeap::with_capacity(runs.len());
    for (i, run) in runs.iter_mut().enumerate() {
        let head = run.next()?.map(row_to_raw).transpose()?;
        if let Some(h) = &head {
            heap.push((h.seq, i));
        }
        heads.push(head);
    }
    let mut out = Vec::with_capacity(limit.min(1024));
    while out.len() < limit {
        let Some((_, i)) = heap.pop() else { break };
        let next = runs[i].next()?.map(row_to_raw).transpose()?;
        if let Some(n) = &next {
            heap.push((n.seq, i));
        }
        if let Some(row) = std::mem::replace(&mut heads[i], next) {
            out.push(row);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
