CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    deleted_at TIMESTAMP NULL,
    deleted_by INTEGER NULL,
    deletion_reason TEXT NULL
);
