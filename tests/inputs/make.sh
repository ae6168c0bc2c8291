#!/bin/sh
# Rebuilds the workbooks tests/inputs.rs reads, with LibreOffice (7.4.7 made the committed
# ones): `leads.fods` is the source, a flat OpenDocument spreadsheet written by hand with
# typed cells (a phone and an account number stored as numbers, a date, a date-time,
# booleans, a =NA() formula), title rows above the header, a report footer below the data,
# and a second sheet; each workbook is LibreOffice's own export of it.
set -eu
cd "$(dirname "$0")"
for format in xlsx xls ods; do
    soffice --headless --calc --convert-to "$format" leads.fods
done
