"""Site configuration: the site file's format, its checks, and loading it into the database."""

from gateway.site.extend import extend_shifts
from gateway.site.loader import LoadSummary, load_site_file, read_site_file, validate_site_file

__all__ = ["LoadSummary", "extend_shifts", "load_site_file", "read_site_file", "validate_site_file"]
