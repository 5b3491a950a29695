-- Substring search on run names (the UI's filter box, KFP's IS_SUBSTRING) through a trigram
-- index instead of a scan of every run.
CREATE VIRTUAL TABLE runs_name_search USING fts5(
    display_name, content = 'runs', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO runs_name_search (rowid, display_name) SELECT rowid, display_name FROM runs;
CREATE TRIGGER runs_name_search_insert AFTER INSERT ON runs BEGIN
    INSERT INTO runs_name_search (rowid, display_name) VALUES (new.rowid, new.display_name);
END;
CREATE TRIGGER runs_name_search_delete AFTER DELETE ON runs BEGIN
    INSERT INTO runs_name_search (runs_name_search, rowid, display_name)
    VALUES ('delete', old.rowid, old.display_name);
END;
CREATE TRIGGER runs_name_search_update AFTER UPDATE OF display_name ON runs BEGIN
    INSERT INTO runs_name_search (runs_name_search, rowid, display_name)
    VALUES ('delete', old.rowid, old.display_name);
    INSERT INTO runs_name_search (rowid, display_name) VALUES (new.rowid, new.display_name);
END;
