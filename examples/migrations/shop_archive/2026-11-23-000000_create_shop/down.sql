DROP TABLE comments;
DROP TABLE invoices;
DROP TABLE reviews;
DROP TABLE order_items;
DROP TABLE orders;
DROP TABLE users;
