"""The author's pages: prompt library, tester, compare, gallery. Thin: HTTP in, services out."""
