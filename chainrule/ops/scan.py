"""(being written: issue 23)"""
