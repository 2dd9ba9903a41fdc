//! Click figures: additive upserts (so instances add up exactly), their reading, and pruning by age.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{Placeholders, Pool, Store};
use crate::analytics::{ClickStore, Counts, Dimension, Horizon, Point, Tally};
use crate::storage::StorageError;

/// The tables holding a link's figures.
pub(super) const TABLES: [&str; 5] = ["click_hours", "click_days", "click_tops", "click_agents", "click_visitors"];

/// Rows per statement. Statements of this many rows stay prepared on every connection that wrote figures (one per
/// remainder size would pile up), and SQLite's compiled program grows with the rows: at 1,000 rows the four held
/// 2.6 MB, at 200 about a fifth of it, for four more statements per 1,000 rows written (under a millisecond).
const CHUNK: usize = 200;

/// A table's rows in key order: B-tree pages are visited once each rather than at random, and instances writing the
/// same rows lock them in one order, so PostgreSQL cannot deadlock two of them.
fn in_key_order<K: Ord, V>(rows: &HashMap<K, V>) -> Vec<(&K, &V)> {
    let mut rows: Vec<_> = rows.iter().collect();
    rows.sort_unstable_by_key(|(key, _)| *key);
    rows
}

/// Runs the statements adding `tally` on `$tx`, whichever engine it is; the number of rows written.
macro_rules! add_tally {
    ($tx:ident, $tally:expr) => {{
        let tally: &Tally = $tally;
        let placeholders = Placeholders::of(&$tx);
        let mut rows = 0_u64;
        // Visitors first: the ones the database had not seen yet are the day's new unique visitors.
        let mut visitors: Vec<_> = tally.visitors.iter().collect();
        visitors.sort_unstable(); // for the reasons of `in_key_order`
        let mut new_visitors: HashMap<(i64, i64), i64> = HashMap::new();
        for chunk in visitors.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO click_visitors (link_id, day, visitor) VALUES {} ON CONFLICT DO NOTHING \
                 RETURNING link_id, day",
                placeholders.rows(chunk.len(), 3)
            );
            let mut query = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql)).persistent(chunk.len() == CHUNK);
            for (link, day, visitor) in chunk {
                query = query.bind(link).bind(day).bind(visitor);
            }
            for key in query.fetch_all(&mut *$tx).await? {
                *new_visitors.entry(key).or_default() += 1;
                rows += 1;
            }
        }
        let hours = in_key_order(&tally.hours);
        for chunk in hours.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO click_hours (link_id, hour, clicks, previews, bots) VALUES {} \
                 ON CONFLICT (link_id, hour) DO UPDATE SET clicks = click_hours.clicks + excluded.clicks, \
                 previews = click_hours.previews + excluded.previews, bots = click_hours.bots + excluded.bots",
                placeholders.rows(chunk.len(), 5)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(chunk.len() == CHUNK);
            for ((link, hour), counts) in chunk {
                query = query.bind(link).bind(hour).bind(counts.clicks).bind(counts.previews).bind(counts.bots);
            }
            rows += query.execute(&mut *$tx).await?.rows_affected();
        }
        // A day's clicks are its hours' (moved into click_days when the hours are pruned): the day row is written
        // only for the visitors the database had not seen.
        let days = in_key_order(&new_visitors);
        for chunk in days.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO click_days (link_id, day, visitors) VALUES {} \
                 ON CONFLICT (link_id, day) DO UPDATE SET visitors = click_days.visitors + excluded.visitors",
                placeholders.rows(chunk.len(), 3)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(chunk.len() == CHUNK);
            for ((link, day), visitors) in chunk {
                query = query.bind(link).bind(day).bind(visitors);
            }
            rows += query.execute(&mut *$tx).await?.rows_affected();
        }
        let tops = in_key_order(&tally.tops);
        for chunk in tops.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO click_tops (link_id, day, dimension, value, clicks) VALUES {} \
                 ON CONFLICT (link_id, day, dimension, value) DO UPDATE SET clicks = click_tops.clicks + excluded.clicks",
                placeholders.rows(chunk.len(), 5)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(chunk.len() == CHUNK);
            for ((link, day, dimension, value), clicks) in chunk {
                query = query.bind(link).bind(day).bind(dimension.name()).bind(value.as_ref()).bind(clicks);
            }
            rows += query.execute(&mut *$tx).await?.rows_affected();
        }
        let agents = in_key_order(&tally.agents);
        for chunk in agents.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO click_agents (link_id, day, browser, os, device, clicks) VALUES {} \
                 ON CONFLICT (link_id, day, browser, os, device) \
                 DO UPDATE SET clicks = click_agents.clicks + excluded.clicks",
                placeholders.rows(chunk.len(), 6)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(chunk.len() == CHUNK);
            for ((link, day, agent), clicks) in chunk {
                // What the user agent does not tell is stored empty (the key's columns cannot be NULL).
                query = query
                    .bind(link)
                    .bind(day)
                    .bind(agent.browser.as_deref().unwrap_or_default())
                    .bind(agent.os.as_deref().unwrap_or_default())
                    .bind(agent.device.unwrap_or_default())
                    .bind(clicks);
            }
            rows += query.execute(&mut *$tx).await?.rows_affected();
        }
        rows
    }};
}

#[async_trait]
impl ClickStore for Store {
    async fn add_clicks(&self, tally: &Tally) -> Result<u64, StorageError> {
        // Values a header brought cannot hold what PostgreSQL refuses (NUL).
        if tally.tops.keys().any(|(_, _, _, value)| !super::storable(value)) {
            let mut clean = Tally::default();
            clean.hours.clone_from(&tally.hours);
            clean.visitors.clone_from(&tally.visitors);
            clean.agents.clone_from(&tally.agents);
            clean.tops =
                tally.tops.iter().filter(|(k, _)| super::storable(&k.3)).map(|(k, v)| (k.clone(), *v)).collect();
            return Box::pin(self.add_clicks(&clean)).await;
        }
        Ok(in_transaction!(self, tx => add_tally!(tx, tally)))
    }

    async fn prune_clicks(&self, horizon: Horizon) -> Result<u64, StorageError> {
        let mut rows = self.move_hours_into_days(horizon.hours_before).await?;
        let statements = [
            ("DELETE FROM click_days WHERE day < $1", horizon.days_before),
            ("DELETE FROM click_tops WHERE day < $1", horizon.days_before),
            ("DELETE FROM click_agents WHERE day < $1", horizon.days_before),
            ("DELETE FROM click_visitors WHERE day < $1", horizon.visitors_before),
        ];
        for (sql, before) in statements {
            rows += on_pool!(self, pool => sqlx::query(sql).bind(before).execute(pool).await?.rows_affected());
        }
        // Figures a click added just after its link was deleted.
        for table in TABLES {
            let sql =
                format!("DELETE FROM {table} WHERE NOT EXISTS (SELECT 1 FROM links WHERE links.id = {table}.link_id)");
            rows += on_pool!(self, pool => sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await?.rows_affected());
        }
        Ok(rows)
    }

    async fn click_series(&self, link: i64, from: i64, to: i64, hourly: bool) -> Result<Vec<Point>, StorageError> {
        let sql = if hourly {
            "SELECT hour, clicks, previews, bots, CAST(0 AS BIGINT) FROM click_hours WHERE link_id = $1 AND hour >= $2 AND hour < $3 \
             ORDER BY hour"
        } else {
            // The hours not yet moved into their day add to it (`from` and `to` are whole days).
            "SELECT day, CAST(SUM(clicks) AS BIGINT), CAST(SUM(previews) AS BIGINT), CAST(SUM(bots) AS BIGINT), \
                    CAST(SUM(visitors) AS BIGINT) FROM ( \
                 SELECT day, clicks, previews, bots, visitors FROM click_days \
                     WHERE link_id = $1 AND day >= $2 AND day < $3 \
                 UNION ALL SELECT hour - hour % 86400, clicks, previews, bots, 0 FROM click_hours \
                     WHERE link_id = $1 AND hour >= $2 AND hour < $3 \
             ) figures GROUP BY day ORDER BY day"
        };
        let rows: Vec<(i64, i64, i64, i64, i64)> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(link)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|(start, clicks, previews, bots, visitors)| Point {
                start,
                counts: Counts { clicks, previews, bots },
                visitors,
            })
            .collect())
    }

    async fn click_tops(
        &self,
        link: i64,
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<(Dimension, String, i64)>, StorageError> {
        // Both engines rank within each dimension with a window function. The user agent's three tables come from
        // its rows in click_agents (and from click_tops, where figures written before migration 0010 keep them).
        let sql = "SELECT dimension, value, total FROM (
                SELECT dimension, value, CAST(SUM(clicks) AS BIGINT) AS total,
                       ROW_NUMBER() OVER (PARTITION BY dimension ORDER BY SUM(clicks) DESC, value) AS place
                FROM (
                    SELECT dimension, value, clicks FROM click_tops WHERE link_id = $1 AND day >= $2 AND day < $3
                    UNION ALL SELECT 'browser', browser, clicks FROM click_agents
                        WHERE link_id = $1 AND day >= $2 AND day < $3 AND browser <> ''
                    UNION ALL SELECT 'os', os, clicks FROM click_agents
                        WHERE link_id = $1 AND day >= $2 AND day < $3 AND os <> ''
                    UNION ALL SELECT 'device', device, clicks FROM click_agents
                        WHERE link_id = $1 AND day >= $2 AND day < $3 AND device <> ''
                ) figures
                GROUP BY dimension, value
            ) ranked WHERE place <= $4 ORDER BY dimension, total DESC, value";
        let rows: Vec<(String, String, i64)> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(link)
            .bind(from)
            .bind(to)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(dimension, value, total)| Some((Dimension::from_name(&dimension)?, value, total)))
            .collect())
    }
}

impl Store {
    /// Adds the hourly figures before `before` to their days' and deletes them, in one step: two instances pruning at
    /// once move each hour once.
    async fn move_hours_into_days(&self, before: i64) -> Result<u64, StorageError> {
        const ADD: &str = "ON CONFLICT (link_id, day) DO UPDATE SET clicks = click_days.clicks + excluded.clicks, \
             previews = click_days.previews + excluded.previews, bots = click_days.bots + excluded.bots";
        Ok(match &self.pool {
            // Deleting rows locks them: an instance moving at the same time skips the rows this one took.
            Pool::Postgres(pool) => {
                let sql = format!(
                    "WITH moved AS (DELETE FROM click_hours WHERE hour < $1 RETURNING *), added AS ( \
                         INSERT INTO click_days (link_id, day, clicks, previews, bots) \
                         SELECT link_id, hour - hour % 86400, SUM(clicks), SUM(previews), SUM(bots) FROM moved \
                         GROUP BY link_id, hour - hour % 86400 {ADD} \
                     ) SELECT COUNT(*) FROM moved"
                );
                let moved: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(before).fetch_one(pool).await?;
                u64::try_from(moved).unwrap_or_default()
            }
            // SQLite's write transactions take turns (BEGIN IMMEDIATE).
            Pool::Sqlite(pool) => in_transaction!(@on pool, "BEGIN IMMEDIATE", tx => {
                let sql = format!(
                    "INSERT INTO click_days (link_id, day, clicks, previews, bots) \
                     SELECT link_id, hour - hour % 86400, SUM(clicks), SUM(previews), SUM(bots) FROM click_hours \
                     WHERE hour < $1 GROUP BY link_id, hour - hour % 86400 {ADD}"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(before).execute(&mut *tx).await?;
                let delete = sqlx::query("DELETE FROM click_hours WHERE hour < $1");
                delete.bind(before).execute(&mut *tx).await?.rows_affected()
            }),
        })
    }
}
