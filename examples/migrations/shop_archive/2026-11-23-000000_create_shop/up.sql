CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    deleted_at TIMESTAMP NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    code TEXT NOT NULL,
    deleted_at TIMESTAMP NULL
);
CREATE INDEX orders_deleted_at ON orders (deleted_at);
CREATE TABLE order_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    sku TEXT NOT NULL,
    deleted_at TIMESTAMP NULL
);
CREATE TABLE reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    author_id INTEGER NULL REFERENCES users (id),
    body TEXT NOT NULL
);
CREATE TABLE invoices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    total INTEGER NOT NULL,
    deleted_at TIMESTAMP NULL
);
CREATE TABLE comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    author_id INTEGER NOT NULL REFERENCES users (id),
    parent_id INTEGER NULL REFERENCES comments (id),
    body TEXT NOT NULL,
    deleted_at TIMESTAMP NULL
);
CREATE INDEX comments_deleted_at ON comments (deleted_at);
