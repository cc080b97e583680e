"""``gler pages``: a PNG of every built chapter page, drawn by headless Chromium."""

from __future__ import annotations

import argparse

NAME = "pages"
HELP = "render every built chapter page to PNG with headless Chromium (look before publishing)"
ORDER = 95


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--html", default="_build/html",
                        help="the built book (default: _build/html)")
    parser.add_argument("--out", default="_build/pages",
                        help="directory for the PNGs (default: _build/pages)")
    parser.add_argument("--width", type=int, default=1280, help="window width in pixels")
    parser.add_argument("--browser", help="Chromium executable (default: found on the PATH)")


def run(args: argparse.Namespace) -> int:
    from gler.reproduce import render_pages

    for png in render_pages(args.html, args.out, width=args.width, browser=args.browser):
        print(png)
    return 0
