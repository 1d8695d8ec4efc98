//! Every row of every table as sorted text, to show that a refused request changed nothing.

use fieldservice::db::{Db, DbError};

/// The whole database but the tables in `except` (journals a refusal may legitimately write).
pub fn dump(db: &Db, except: &[&str]) -> String {
    db.read(|c| {
        let tables: Vec<String> = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = String::new();
        for table in tables.iter().filter(|t| !except.contains(&t.as_str())) {
            let mut stmt = c.prepare(&format!("SELECT * FROM \"{table}\""))?;
            let columns = stmt.column_count();
            let mut rows: Vec<String> = stmt
                .query_map([], |r| {
                    let cells = (0..columns).map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")));
                    Ok(cells.collect::<rusqlite::Result<Vec<_>>>()?.join("|"))
                })?
                .collect::<rusqlite::Result<_>>()?;
            rows.sort();
            out.push_str(&format!("== {table} ({} rows)\n{}\n", rows.len(), rows.join("\n")));
        }
        Ok::<_, DbError>(out)
    })
    .expect("the database can be read")
}
