"""Korean dates in Korean order, year first, zero-padded and on a 24-hour clock:
``2026년 12월 4일 15:42`` written out, ``2026-12-04 15:42`` in tables.

Django's own ``ko`` formats print short dates unpadded (``2026-12-4``) and long times on a
12-hour clock after the date (``3:42 오후``); the portal's lists line up better this way.
Only output formats are changed; input formats stay Django's.
"""

DATE_FORMAT = "Y년 n월 j일"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "Y년 n월 j일 H:i"
YEAR_MONTH_FORMAT = "Y년 n월"
MONTH_DAY_FORMAT = "n월 j일"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
FIRST_DAY_OF_WEEK = 0  # Sunday
