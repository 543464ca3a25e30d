"""Real-browser tests (JupyterLab / Voila in headless Chromium); see harness.py."""
