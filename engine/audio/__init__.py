"""Voice input without Qt: capture (sounddevice), VAD and utterance segmentation,
Whisper recognition (faster-whisper), the spoken-command grammar and the
dictation document model.

    microphone --capture--> 16 kHz blocks --vad--> utterances --recognizer--> text
        --commands--> Command | dictation text --dictation--> (text, cursor, selection)
"""

SAMPLE_RATE = 16000
