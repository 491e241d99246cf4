"""The live page served by the gateway itself: routes, site geometry, the event stream and the
page's own files (``static/``: no CDN, so it works on a site LAN without the internet)."""
