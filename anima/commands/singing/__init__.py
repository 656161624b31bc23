"""Singing's orchestration: what a person asked for, the safety checks a song passes, lyrics by the LLM.

The sound itself (scores, the vocoder, the singer's bounded queue) lives in anima.voice.sing.
"""
