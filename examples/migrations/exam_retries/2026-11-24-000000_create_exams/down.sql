DROP TABLE grades;
DROP TABLE answers;
DROP TABLE attempts;
DROP TABLE exams;
