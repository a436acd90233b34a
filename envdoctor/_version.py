"""envdoctor's version, in a module of its own so that the package's modules can name it without importing the
package's facade (envdoctor/__init__.py), which names them: no import cycle."""

__version__ = "0.1.0"
