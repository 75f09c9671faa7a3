/**
 * Every story renders and passes its play function, so a story that breaks fails
 * the tests (portable stories, rendered in jsdom). Storybook unmounts each story
 * before it runs the next one.
 */
import { composeStories, setProjectAnnotations } from '@storybook/react-vite';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import preview from '../.storybook/preview';

type StoryModule = Parameters<typeof composeStories>[0];

const modules = import.meta.glob<StoryModule>('./**/*.stories.tsx', { eager: true });

beforeAll(() => {
  setProjectAnnotations(preview);
});

describe.each(Object.entries(modules))('%s', (_path, module) => {
  const stories = Object.entries<{ run: () => Promise<void> }>(composeStories(module));

  it.each(stories)('%s renders without errors', async (_name, Story) => {
    const consoleError = vi.spyOn(console, 'error');
    await Story.run();
    expect(consoleError).not.toHaveBeenCalled();
  });
});
