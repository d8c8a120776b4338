"""Static files in production: hashed names, compressed copies (WhiteNoise), and the ES modules' own imports
(`import ... from "./live.js"`) rewritten to the hashed names too, so a browser never mixes a new page script
with a module it cached from an older release."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
