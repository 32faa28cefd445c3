"""Fleet Management System for protective-mask testing."""

__version__ = "0.1.0"
