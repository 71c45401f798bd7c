CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    deleted_at TIMESTAMP NULL
);
CREATE TABLE invoices (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    total INTEGER NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_at TIMESTAMP NULL
);
CREATE INDEX invoices_customer_id ON invoices (customer_id);
CREATE TABLE invoice_lines (
    id INTEGER PRIMARY KEY,
    invoice_id INTEGER NOT NULL REFERENCES invoices (id),
    item TEXT NOT NULL,
    deleted_at TIMESTAMP NULL
);
CREATE INDEX invoice_lines_invoice_id ON invoice_lines (invoice_id);
-- Payments are kept for the tax office: a payment keeps its invoice, and so its customer.
-- No model declares this table; the purge finds it through the foreign key.
CREATE TABLE payments (
    id INTEGER PRIMARY KEY,
    invoice_id INTEGER NOT NULL REFERENCES invoices (id),
    amount INTEGER NOT NULL
);
CREATE INDEX payments_invoice_id ON payments (invoice_id);
