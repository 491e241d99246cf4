"""The daily ledger (台账): per guard and day what the stored records say, per team and site
the totals and the rates the regulations assess; as JSON, CSV, XLSX and SVG timelines."""
