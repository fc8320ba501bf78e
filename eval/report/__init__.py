"""Reports: `model` writes one evaluation's (by `alignpipe eval`), `run` the whole run's (`alignpipe report`);
`render` builds Markdown and self-contained HTML from one document, `plots` draws the PNGs."""
